"""The package's layout is its map: few top-level entries, short modules, every import declared."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import luma_playground

PACKAGE = Path(luma_playground.__file__).parent
ROOT = PACKAGE.parent
#: Python's own files in a package, which name no part of the design.
PYTHON_FILES = {"__init__.py", "__main__.py", "py.typed", "__pycache__"}
#: Import names of the declared distributions, where the two differ.
IMPORT_NAMES = {"pillow": "PIL", "gradio_client": "gradio_client", "gradio": "gradio"}


def test_top_level_has_at_most_fifteen_named_entries() -> None:
    """Beside Python's own files, the package has at most 15 entries, each a layer or a face."""
    entries = sorted(path.name for path in PACKAGE.iterdir() if path.name not in PYTHON_FILES)
    assert len(entries) <= 15, entries


def test_no_module_is_over_500_lines() -> None:
    """Every module of the package reads in one sitting."""
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long


def _third_party_imports() -> set[str]:
    found: set[str] = set()
    for path in [*PACKAGE.rglob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "luma_playground"}


def _declared(requirements: list[str]) -> set[str]:
    names = set()
    for line in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.-]+)", line)
        if match and not line.strip().startswith(("#", "-")):
            name = match.group(1).lower().replace("-", "_")
            names.add(IMPORT_NAMES.get(name, name))
    return names


def test_every_imported_package_is_declared() -> None:
    """Each third-party package the code imports is a dependency in pyproject and requirements.txt."""
    imported = _third_party_imports()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert imported <= _declared(project["dependencies"]), imported - _declared(project["dependencies"])
    assert imported <= _declared(requirements), imported - _declared(requirements)


def test_app_uses_public_names_only() -> None:
    """`app.py` imports nothing private of the package, as any script could."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in modules if m.startswith("luma_playground") and "._" in m]
