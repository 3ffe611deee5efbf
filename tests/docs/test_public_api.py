"""The curated public API: every exported name resolves, importing it is light, and the docs use it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import features
import matching

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("package", [matching, features], ids=["matching", "features"])
def test_every_exported_name_resolves(package: object) -> None:
    names = package.__all__
    assert len(names) == len(set(names)), "a name is listed twice in __all__"
    missing = [n for n in names if getattr(package, n, None) is None]
    assert not missing, f"{package.__name__}.__all__ names that do not resolve: {missing}"
    assert sorted(names) == sorted(package._HOMES), "__all__ and the lazy import map differ"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = matching.Nope


def test_importing_the_packages_is_light() -> None:
    heavy = ("torch", "sentence_transformers", "sklearn", "ortools", "scipy", "pandas", "fastapi")
    code = f"import sys, matching, features; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", f"import matching/features loaded {done.stdout.strip()}"


def test_docs_import_from_the_public_api_only() -> None:
    private = re.compile(r"^\s*(?:from|import)\s+((?:matching|features)\.[\w.]+)", re.MULTILINE)
    found = []
    for page in DOCS:
        for block in re.findall(r"```python\n(.*?)```", page.read_text("utf-8"), re.DOTALL):
            found += [f"{page.relative_to(ROOT)}: {m}" for m in private.findall(block)]
    assert not found, "examples should import from `matching` / `features`, not: " + "; ".join(found)
