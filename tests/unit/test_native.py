"""The guard against a compiled module that no longer matches its source (ops/native.py)."""

from __future__ import annotations

import importlib.machinery
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops import native


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "hot.py").write_text("def f() -> int:\n    return 1\n")
    (tmp_path / "pkg" / "cold.py").write_text("X = 1\n")
    monkeypatch.setattr(native, "ROOT", tmp_path)
    monkeypatch.setattr(native, "MODULES", ("pkg/hot.py", "pkg/cold.py"))
    monkeypatch.setattr(native, "STAMP", tmp_path / "build" / "native.json")
    monkeypatch.setattr(native, "PACKAGES", ("pkg",))
    native.check.cache_clear()
    yield tmp_path
    native.check.cache_clear()


def _compiled(root: Path, source: str) -> None:
    """What a build leaves: the extension beside the source, and the source's digest."""
    path = root / source
    path.with_name(path.stem + importlib.machinery.EXTENSION_SUFFIXES[0]).write_bytes(b"\x7fELF")
    stamp = json.loads(native.STAMP.read_text()) if native.STAMP.exists() else {}
    stamp[source] = native._digest(source)
    native.STAMP.parent.mkdir(exist_ok=True)
    native.STAMP.write_text(json.dumps(stamp))


def test_a_module_without_extension_is_pure_and_passes(checkout: Path) -> None:
    assert native.status() == {"pkg/hot.py": "pure", "pkg/cold.py": "pure"}
    native.check()


def test_a_compiled_module_is_current_until_its_source_changes(checkout: Path) -> None:
    _compiled(checkout, "pkg/hot.py")
    assert native.status() == {"pkg/hot.py": "current", "pkg/cold.py": "pure"}
    native.check()
    native.check.cache_clear()

    (checkout / "pkg" / "hot.py").write_text("def f() -> int:\n    return 2\n")
    assert native.status()["pkg/hot.py"] == "stale"
    with pytest.raises(RuntimeError, match=r"pkg/hot\.py.*make native"):
        native.check()


def test_an_extension_without_a_recorded_digest_is_stale(checkout: Path) -> None:
    path = checkout / "pkg" / "cold.py"
    path.with_name("cold" + importlib.machinery.EXTENSION_SUFFIXES[0]).write_bytes(b"\x7fELF")
    assert native.status()["pkg/cold.py"] == "stale"


def test_clean_takes_out_extensions_and_the_stamp(checkout: Path) -> None:
    _compiled(checkout, "pkg/hot.py")
    native.clean()
    assert native.status() == {"pkg/hot.py": "pure", "pkg/cold.py": "pure"}
    assert not native.STAMP.exists()
    assert (checkout / "pkg" / "hot.py").exists()


def test_an_extension_no_longer_listed_is_stale_and_cleaned(checkout: Path) -> None:
    """A module taken off MODULES keeps its extension from the last build: it would run instead
    of its source, unchecked. It counts as stale until cleaned."""
    gone = checkout / "pkg" / ("gone" + importlib.machinery.EXTENSION_SUFFIXES[0])
    gone.write_bytes(b"\x7fELF")
    assert native.status()[f"pkg/{gone.name}"] == "stale"
    with pytest.raises(RuntimeError, match="gone"):
        native.check()
    native.clean()
    assert not gone.exists()
