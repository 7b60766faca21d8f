"""The pure-Python pass (DOUDI_PURE_PYTHON=1, tests/conftest.py): a module that ops.native
compiles is imported from its source even where an extension module stands beside it."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops import native
from tests.conftest import SourceFinder


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package whose module ``hot`` has a source and, beside it, an extension that is not one
    (importing it would fail), as a stale or foreign build would."""
    (tmp_path / "purepkg").mkdir()
    (tmp_path / "purepkg" / "__init__.py").write_text("")
    (tmp_path / "purepkg" / "hot.py").write_text("WHERE = 'source'\n")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / "purepkg" / f"hot{suffix}").write_bytes(b"not an extension module")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("purepkg", "purepkg.hot"):
        sys.modules.pop(name, None)


def test_without_the_finder_the_extension_wins(package: Path) -> None:
    with pytest.raises(ImportError):
        importlib.import_module("purepkg.hot")


def test_the_finder_imports_the_source(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "meta_path", [SourceFinder(package, ["purepkg/hot.py"]), *sys.meta_path]
    )
    assert importlib.import_module("purepkg.hot").WHERE == "source"


def test_the_finder_passes_over_other_modules(package: Path) -> None:
    finder = SourceFinder(package, ["purepkg/hot.py"])
    assert finder.find_spec("purepkg") is None
    assert finder.find_spec("purepkg.cold") is None


@pytest.mark.skipif(
    os.environ.get("DOUDI_PURE_PYTHON") != "1", reason="the pure-Python pass only (make test)"
)
def test_on_the_pure_pass_every_compiled_module_runs_from_its_source() -> None:
    """Coverage is measured on this pass, so none of ops.native's modules may be an extension."""
    for source in native.MODULES:
        module = importlib.import_module(source.removesuffix(".py").replace("/", "."))
        assert module.__file__ is not None and module.__file__.endswith(".py"), module.__file__
