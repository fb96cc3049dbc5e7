"""The operator families keep their insides private: code outside `operators/<family>/` imports
only a family's public face (its `__init__` or its public operator modules)."""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCANNED = ("garden", "trainer", "operators", "bench", "tests")


def _family_of(path: pathlib.Path, root: pathlib.Path) -> str | None:
    parts = path.relative_to(root).parts
    return parts[1] if parts[0] == "operators" and len(parts) > 2 else None


def private_imports(path: pathlib.Path, root: pathlib.Path = ROOT) -> list[str]:
    """`file:line module name` for each import of another family's private module or name."""
    home = _family_of(path, root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [(alias.name, "") for alias in node.names]
        else:
            continue
        for module, name in targets:
            parts = module.split(".")
            if parts[0] != "operators" or len(parts) < 2 or parts[1] == home:
                continue
            if any(p.startswith("_") for p in parts[2:]) or name.startswith("_"):
                found.append(f"{path.relative_to(root)}:{node.lineno} {module} {name}".rstrip())
    return found


def python_files() -> list[pathlib.Path]:
    """The project's own Python files (not a virtual environment or work folder a bench made)."""
    skip = {"_work", ".venv", "site-packages", "__pycache__"}
    return sorted(p for top in SCANNED for p in (ROOT / top).rglob("*.py") if not skip & set(p.relative_to(ROOT).parts))


def test_no_module_imports_a_private_name_of_another_family():
    offenders = [hit for path in python_files() for hit in private_imports(path)]
    assert offenders == []


def test_the_check_catches_a_private_import(tmp_path):
    """The scan is not vacuous: reaching into another family's insides is reported; the family's
    own modules may use its private helpers."""
    (tmp_path / "garden").mkdir()
    (tmp_path / "operators" / "lang").mkdir(parents=True)
    bad = tmp_path / "garden" / "bad.py"
    bad.write_text("from operators.lang._lid import LanguageIdentifier\nimport operators.dedup._lsh\n"
                   "from operators.pii import _detect\nfrom operators.lang import LanguageIdentifier\n")
    own = tmp_path / "operators" / "lang" / "language.py"
    own.write_text("from operators.lang._lid import LanguageIdentifier\n")
    assert private_imports(own, tmp_path) == []
    hits = private_imports(bad, tmp_path)
    assert [h.split(" ", 1)[1] for h in hits] == ["operators.lang._lid LanguageIdentifier", "operators.dedup._lsh",
                                                  "operators.pii _detect"]


@pytest.mark.parametrize("family", ["clean", "lang", "quality", "selection", "pii", "dedup", "tokens", "mix"])
def test_every_family_is_a_package_with_a_public_face(family):
    package = ROOT / "operators" / family
    assert (package / "__init__.py").is_file()
    assert any(not p.name.startswith("_") for p in package.glob("*.py") if p.name != "__init__.py")


def test_every_built_in_operator_lives_in_a_family():
    from garden import registry

    for name, cls in registry.all_operators().items():
        parts = cls.__module__.split(".")
        if parts[0] == "operators":
            assert len(parts) == 3 and not parts[2].startswith("_"), f"{name} is defined in {cls.__module__}"
