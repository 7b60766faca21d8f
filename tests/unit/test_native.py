"""The guard against a compiled module that no longer matches its source (ops/native.py)."""

from __future__ import annotations

import ast
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
    monkeypatch.setattr(native, "C_MODULES", ())
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


def test_a_hand_written_c_module_is_tracked_as_the_compiled_ones(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A C extension (``C_MODULES``, the log's hashing) is current until its source changes,
    and cleaned with the rest."""
    (checkout / "pkg" / "fast.c").write_text("/* v1 */\n")
    monkeypatch.setattr(native, "C_MODULES", (("pkg/fast.c", ("crypto",)),))
    assert native.status()["pkg/fast.c"] == "pure"
    _compiled(checkout, "pkg/fast.c")
    assert native.status()["pkg/fast.c"] == "current"
    (checkout / "pkg" / "fast.c").write_text("/* v2 */\n")
    assert native.status()["pkg/fast.c"] == "stale"
    native.clean()
    assert native.status()["pkg/fast.c"] == "pure"


def _domain_value_classes() -> list[type]:
    """Every dataclass defined in ``domain/``."""
    import dataclasses
    import importlib
    import pkgutil

    import domain

    found = []
    for info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"domain.{info.name}")
        found += [
            value for value in vars(module).values()
            if isinstance(value, type) and dataclasses.is_dataclass(value)
            and value.__module__ == module.__name__
        ]  # fmt: skip
    return found


@pytest.mark.parametrize("cls", _domain_value_classes(), ids=lambda v: v.__name__)
def test_domain_value_classes_are_plain_dataclasses(cls: type) -> None:
    """The domain's value classes are ordinary Python, compiled or not: their ``__init__`` is
    the one ``@dataclass`` generates (the records are ``NamedTuple``s)."""
    init = cls.__init__
    assert init.__code__.co_filename == "<string>", "a hand-written __init__"  # type: ignore[misc]


def test_frozen_value_classes_stay_frozen_and_compare_by_value() -> None:

    from domain.entitlement import Component, Income
    from projections.case_state.settled import basis_from_settled

    income = Income(120_000, 0, 5_000, 0, "HouseholdCase.EconomicCheckRecorded#3")
    with pytest.raises(AttributeError):  # a record: no field can be set
        income.household_income_fen = 0  # type: ignore[misc]
    assert income == Income(120_000, 0, 5_000, 0, "HouseholdCase.EconomicCheckRecorded#3")
    assert income != Income(120_000, 0, 5_001, 0, "HouseholdCase.EconomicCheckRecorded#3")
    assert hash(Component("base", 1, "r", ("a",))) == hash(Component("base", 1, "r", ("a",)))
    values = b'["household","dibao_urban","top_up",null,2,1,100,0,0,0,"full_self_care","dispersed",false]'
    span = b'["active","2022-01",null,0]'
    basis = basis_from_settled(values, span, "X#1\x1fA#1\x1fB#2")
    assert basis == basis_from_settled(values, span, "X#1\x1fA#1\x1fB#2")
    assert basis != basis_from_settled(values, span, "X#1\x1fA#1")
    assert basis.income.source == "X#1" and basis.sources == ["A#1", "B#2"]
    assert (basis.household_members, basis.covered_members) == (2, 1)


def test_field_positions_are_final_constants_matching_their_fields() -> None:
    """The positions of a case-page row's and a roll row's fields are ``Final`` constants,
    written out one by one (compiled code reads a ``Final`` int as a constant), so each must
    name the position of its field."""
    import domain.lines as lines
    import projections.case_state.settled as settled

    root = Path(__file__).resolve().parents[2]
    for path, fields in (
        ("projections/case_state/settled.py", settled.PAGE_FIELDS),
        ("domain/lines.py", lines.FIELDS),
    ):
        source = ast.parse((root / path).read_text("utf-8"))
        final = {
            node.target.id: node.value.value
            for node in source.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and ast.unparse(node.annotation) == "Final" and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        }  # fmt: skip
        expected = {name.upper(): index for index, name in enumerate(fields)}
        aliases = {"COVERED_MEMBERS": "COVERED", "TOTAL_FEN": "TOTAL", "RECEIVABLE_FEN": "RECEIVABLE"}  # fmt: skip
        assert final == {aliases.get(name, name): index for name, index in expected.items()}
