"""Storage: every table (models.py), engine/sessions/migrations and shared queries (db.py)."""
