"""The shape the design card asks for: rules are pure functions of a features object (no Flask, no
FHIR, no I/O), and the features object knows nothing of FHIR models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"
FORBIDDEN_IN_RULES = {"flask", "werkzeug", "fhir", "fhir_core", "pydantic", "requests", "marshmallow", "yaml",
                      "os", "io", "pathlib", "socket", "subprocess", "logging", "sqlite3", "urllib", "http", "time"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("path", sorted((SERVICE / "rules").glob("*.py")), ids=lambda p: p.name)
def test_rules_import_no_web_fhir_or_io(path):
    for name in imported_modules(path):
        assert name.split(".")[0] not in FORBIDDEN_IN_RULES, f"{path.name} imports {name}"
        if name.startswith(".."):
            assert name in ("..features.model", "..features.dates"), f"{path.name} reaches outside rules/: {name}"
    assert "open(" not in path.read_text(encoding="utf-8")


def test_the_features_model_knows_no_fhir():
    for module in ("model.py", "dates.py"):
        names = imported_modules(SERVICE / "features" / module)
        assert not {n.split(".")[0] for n in names} & {"fhir", "fhir_core", "pydantic", "flask"}, module
