"""Rewrite storage/migrations/versions/0001_initial_schema.py from storage/models.py.

A development aid while no release exists: after changing a table, run
``python scripts/regen_initial_migration.py``. Once fruehwarn is released, add a new
revision instead (``alembic revision --autogenerate``) and never rewrite 0001.
"""

import tempfile
from pathlib import Path

from alembic import command

from storage.db import MIGRATIONS_DIR, alembic_config

target = MIGRATIONS_DIR / "versions" / "0001_initial_schema.py"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as d:
    command.revision(alembic_config(f"sqlite:///{Path(d) / 'empty.db'}"), message="initial schema",
                     autogenerate=True, rev_id="0001")
print(f"rewrote {target}")
