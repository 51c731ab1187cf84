"""Find the knowledge directories (cards/, mappings/) whether installed from a wheel or run from a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def knowledge_dir(name: str) -> Path:
    """Return the directory holding `cards` or `mappings`.

    A wheel carries them inside the package (service/_knowledge/<name>); a checkout or an editable
    install has them at the repository root, next to service/.
    """
    for candidate in (_PACKAGE_DIR / "_knowledge" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"knowledge directory {name!r} not found next to the service package")
