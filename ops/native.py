"""The roll's hot path compiled with mypyc, from the same typed source (optional).

    python -m ops.native build    # compile MODULES in place (what `make native` runs)
    python -m ops.native status   # which modules run compiled, and whether they are current
    python -m ops.native clean    # back to pure Python

mypyc (part of mypy) turns a type-annotated module into a C extension with the same behaviour;
Python then imports ``basis.cpython-311-….so`` in place of ``basis.py``. Nothing is written
twice: the rules stay in the Python source, which is what is read, reviewed and type-checked,
and a machine without a C compiler runs that source as it is.

One hazard comes with it: an extension module wins over its source, so a source edited after
the build would silently not run. The build therefore records each source's SHA-256 next to
the extensions (``STAMP``), and ``check`` refuses a compiled module whose source has changed
since: the test session and the services' start-up call it.

Compiled: the roll's line loop and totals, the case rows and settled bases it reads, and what it
runs for every distinct set of case values (the month's policy lookups, the entitlement engine,
the basis, rounding, the chunk's rows), because a roll runs these once per line or nearly, a
million times a month. The code is ordinary typed Python, held to its own source run as Python
by ``tests/property/test_native_twin.py``.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
MODULES = (
    "ops/services/roll_lines.py",
    "projections/case_state/settled.py",
    "ops/services/rolls.py",
    "domain/basis.py",
    "domain/entitlement.py",
    "domain/lines.py",
    "domain/money.py",
    "domain/month_policy.py",
    "domain/recovery.py",
)
# Hand-written C extensions (source, libraries): the log's hashing (``ledger/proof/fast.py``).
C_MODULES = (("ledger/proof/accel.c", ("crypto",)),)
STAMP = ROOT / "build" / "native.json"
PACKAGES = ("domain", "ledger", "projections", "api", "ops")
# mypyc's support library for the group, named into a package (the default name would be a
# top-level module, importable only with the checkout itself on sys.path).
GROUP = "ops.native_lib"


def _digest(source: str) -> str:
    return hashlib.sha256((ROOT / source).read_bytes()).hexdigest()


def _sources() -> tuple[str, ...]:
    return MODULES + tuple(source for source, _ in C_MODULES)


def _extensions(source: str) -> list[Path]:
    path = ROOT / source
    return [
        path.with_name(path.stem + suffix)
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if path.with_name(path.stem + suffix).exists()
    ]


def _runtime_libraries() -> list[Path]:
    return sorted((ROOT / "ops").glob("native_lib__mypyc.*"))


def _leftovers() -> list[Path]:
    """Extension modules in the packages that MODULES no longer lists (nothing else in the
    checkout is compiled): left in place, they would run instead of their source unchecked."""
    listed = {path for source in _sources() for path in _extensions(source)}
    found = {  # a set: the suffixes overlap ('.cpython-311-….so' also ends in '.so')
        path
        for package in PACKAGES
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        for path in (ROOT / package).rglob("*" + suffix)
    }
    return sorted(
        path
        for path in found
        if path not in listed and not path.name.startswith("native_lib__mypyc.")
    )


def status() -> dict[str, str]:
    """Per module: 'pure' (no extension), 'current' or 'stale' (source changed since the build,
    or an extension no longer listed)."""
    stamp = json.loads(STAMP.read_text()) if STAMP.exists() else {}
    found = {}
    for source in _sources():
        if not _extensions(source):
            found[source] = "pure"
        else:
            found[source] = "current" if stamp.get(source) == _digest(source) else "stale"
    for path in _leftovers():
        found[str(path.relative_to(ROOT))] = "stale"
    return found


@cache
def check() -> None:
    """Refuse to run a compiled module whose source has changed since it was built, or whose
    module is no longer listed."""
    stale = [source for source, state in status().items() if state == "stale"]
    if stale:
        raise RuntimeError(
            f"compiled modules do not match their source: {', '.join(stale)}."
            " Run `make native` (rebuild) or `python -m ops.native clean` (pure Python)."
        )


def dotted(source: str) -> str:
    """The module name of a source path in MODULES ('ops/services/roll_lines.py' →
    'ops.services.roll_lines')."""
    return source.removesuffix(".py").replace("/", ".")


def compiled(source: str) -> bool:
    """Whether the module of ``source`` runs compiled in this process."""
    module = importlib.import_module(dotted(source))
    return str(module.__file__).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def twin(source: str) -> ModuleType:
    """The pure-Python twin of a compiled module: its source run as Python, under a name of its
    own (``pure.…``), whether or not the extension is built; what it imports is the same."""
    name = "pure." + dotted(source)
    loader = importlib.machinery.SourceFileLoader(name, str(ROOT / source))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # for the dataclasses and pickling that look a class's module up
    loader.exec_module(module)
    return module


def source_only() -> None:
    """From now on, import this checkout's modules from their source, compiled or not: the
    pure-Python run of the whole roll that the tests compare the compiled one with. Call it
    before any of them but this one is imported."""
    packages = tuple(str(ROOT / package) for package in PACKAGES)
    sources = (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)

    def finder(path: str) -> importlib.machinery.FileFinder:
        ours = path == str(ROOT) or any(
            path == package or path.startswith(package + os.sep) for package in packages
        )
        if not ours:
            raise ImportError(path)  # not ours (a virtualenv inside the checkout included)
        return importlib.machinery.FileFinder(path, sources)

    sys.path_hooks.insert(0, finder)
    sys.path_importer_cache.clear()


def clean() -> None:
    for source in _sources():
        for extension in _extensions(source):
            extension.unlink()
    for leftover in _leftovers():
        leftover.unlink()
    for library in _runtime_libraries():
        library.unlink()
    STAMP.unlink(missing_ok=True)


def build() -> int:
    """Compile MODULES in place, unless every one is current. Without a C compiler the code stays
    pure Python (said on stderr), which is correct, only slower."""
    if all(state == "current" for state in status().values()):
        print("native: compiled modules are current", file=sys.stderr)
        return 0
    clean()
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        print("native: no C compiler; the roll runs as pure Python", file=sys.stderr)
        return 0
    digests = {source: _digest(source) for source in _sources()}
    done = subprocess.run(
        [sys.executable, "-m", "ops.native", "compile"], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        clean()
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        print(
            "native: mypyc failed (above). A type error in these modules fails the build;"
            " without Python's C headers, `make NATIVE=0 …` stays pure Python.",
            file=sys.stderr,
        )
        return 1
    STAMP.parent.mkdir(exist_ok=True)
    STAMP.write_text(json.dumps(digests, indent=1, sort_keys=True))
    print(f"native: compiled {len(_sources())} modules", file=sys.stderr)
    return 0


def _compile() -> None:
    """mypyc through setuptools, extensions written in place (``build`` runs this in a child)."""
    from mypyc.build import mypycify
    from setuptools import Extension, setup

    # Type errors are reported for the compiled modules only: the rest of ops/ and projections/
    # is not held to mypy (pyproject's [tool.mypy] says what is).
    extensions = mypycify(["--follow-imports=silent", *MODULES], group_name=GROUP)
    setup(name="doudi-native", ext_modules=extensions, py_modules=[],
          script_args=["build_ext", "--inplace"])  # fmt: skip
    for source, libraries in C_MODULES:  # one that fails (no OpenSSL headers) stays pure
        try:
            extension = Extension(
                dotted(source.removesuffix(".c")), [source], libraries=[*libraries]
            )
            setup(name="doudi-native-c", ext_modules=[extension], py_modules=[],
                  script_args=["build_ext", "--inplace"])  # fmt: skip
        except (SystemExit, Exception) as failed:
            print(
                f"native: {source} not built ({failed}); its Python reference runs", file=sys.stderr
            )


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "status"
    if command == "build":
        return build()
    if command == "compile":
        _compile()
        return 0
    if command == "clean":
        clean()
        return 0
    for source, state in status().items():
        print(f"{state:8} {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
