"""The import direction of DESIGN.md, enforced: config <- storage <- stages <- fruehwarn."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"config", "storage", "crawlers", "classifiers", "alerting", "dashboard", "fruehwarn"}
ALLOWED = {
    "config": set(),
    "storage": {"config"},
    "crawlers": {"config", "storage"},
    "classifiers": {"config", "storage"},
    "alerting": {"config", "storage"},
    "dashboard": {"config", "storage"},
    "fruehwarn": OURS,
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        extra = imported_packages(path) - ALLOWED[package] - {package}
        if extra:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(extra)}")
    assert not bad, "import direction violated:\n" + "\n".join(bad)


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import os\nfrom alerting.delivery import deliver_due\nimport classifiers.topics\n")
    assert imported_packages(f) == {"alerting", "classifiers"}
