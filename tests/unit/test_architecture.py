"""The shape of the tree: the import direction and how the code is shared among the folders.

The import contracts live in pyproject.toml (``[tool.importlinter]``); these tests run them, so
``make test`` fails on an import against the direction domain ← ledger ← projections ←
ops.services ← api / ops.bench.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "ledger", "projections", "ops", "api")
# Beside the standard library and eventsourcing, the model may use python-stdnum: the identity
# number and region code rules (GB 11643, GB/T 2260) as a pure library, without I/O.
MODEL_LIBRARIES = {"domain", "eventsourcing", "stdnum"}
# One module of the model reads orjson: a roll chunk's rows carry each payee as the JSON fragment
# the case-state view stored (``domain/lines.py``), which only orjson can read back.
MODEL_EXCEPTIONS = {("domain.lines", "orjson")}
# No top-level folder may hold more than this share of the project's code.
MAX_SHARE = 0.25


def test_the_import_contracts_hold(capsys: pytest.CaptureFixture[str]) -> None:
    """Every contract in pyproject.toml is kept; the linter's report names each broken import."""
    passed = lint_imports(str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert passed == 0, report


def test_the_model_imports_only_the_standard_library_eventsourcing_and_stdnum() -> None:
    """Whatever the package, an import from domain/ outside it is the standard library,
    eventsourcing (which part of it: the contracts say eventsourcing.domain) or python-stdnum."""
    graph = grimp.build_graph("domain", include_external_packages=True, cache_dir=None)
    foreign = sorted(
        f"{module} -> {imported}"
        for module in graph.find_descendants("domain") | {"domain"}
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] not in {*MODEL_LIBRARIES, *sys.stdlib_module_names}
        and (module, imported) not in MODEL_EXCEPTIONS
    )
    assert foreign == [], "\n".join(foreign)


def code_lines(path: Path) -> int:
    """Lines of code in a module: neither blank nor a comment."""
    stripped = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return sum(1 for line in stripped if line and not line.startswith("#"))


def test_no_folder_holds_more_than_a_quarter_of_the_code() -> None:
    """Counts the code lines of each top-level package; none may exceed MAX_SHARE of the total,
    so that no folder becomes the place where everything goes."""
    lines = {
        package: sum(code_lines(path) for path in (ROOT / package).rglob("*.py"))
        for package in PACKAGES
    }
    total = sum(lines.values())
    shares = {package: round(count / total, 3) for package, count in lines.items()}
    assert max(shares.values()) <= MAX_SHARE, shares


def test_code_lines_skip_blanks_and_comments(tmp_path: Path) -> None:
    """A module of one comment, one blank line and two statements counts two lines."""
    module = tmp_path / "m.py"
    module.write_text("# a comment\n\nx = 1  # trailing\n    y = 2\n")
    assert code_lines(module) == 2
