"""Ledger postings per second, beside the raw library's one-aggregate-per-save rate (same run).

    python -m ops.bench.ledger_bench --postings 3000 [--backend postgres|sqlite|both]

Each doudi posting is one API-equivalent call: validate, check its period open, move the guards
of never-negative accounts, save the transaction, period and guards in one ``save()`` (a
realistic allocate from clearing to a pool: two guards). The baseline saves one new one-event
aggregate per ``save()`` with default library settings; the two take turns, ``--rounds`` times,
and the report gives each round's rates and the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from eventsourcing.application import Application

from domain.access import Principal
from ledger.store.runtime import tune_gc
from ledger.store.settings import Settings
from ops.bench.databases import fresh_database
from ops.bench.import_bench import Probe, baseline_env
from ops.services.core import Services
from ops.services.ledger import post_transaction


def body(code: str, debit: str, credit: str, fen: int) -> dict[str, Any]:
    return {"code": code, "posting_date": "2024-03-05", "document_ref": "bench", "lines": [
        {"account": debit, "debit_fen": fen, "credit_fen": 0, "source": "central"},
        {"account": credit, "debit_fen": 0, "credit_fen": fen, "source": "central"}]}  # fmt: skip


def run(kind: str, postings: int, rounds: int, folder: Path) -> dict[str, Any]:
    """``rounds`` rounds, each the yardstick's saves then doudi's postings, on one database."""
    with fresh_database(kind, folder, "doudi_ledgerbench") as url:
        app: Application[Any] = Application(env=baseline_env(url, folder))
        services = Services(Settings(environment="test", database_url=url, secret="bench"))
        finance = Principal("bench", "finance_officer", "420582")
        fields = body("raise", "clearing:420582:bank", "source:420582:central", 10**8)
        services.execute(
            finance, None, "r", lambda: post_transaction(services, finance, "raise", fields)
        )
        library, doudi = [], []
        for round_number in range(rounds):
            started = time.perf_counter()
            for _ in range(postings):
                app.save(Probe(region_code="420582", amount_fen=1))
            library.append(postings / (time.perf_counter() - started))
            started = time.perf_counter()
            for number in range(postings):
                key = f"a{round_number}-{number}"
                allocate = body("allocate", "pool:420582:dibao", "clearing:420582:bank", 100)
                services.execute(finance, None, key,
                                 lambda k=key, f=allocate: post_transaction(services, finance, k, f))  # fmt: skip
            doudi.append(postings / (time.perf_counter() - started))
        app.close()
        started = time.perf_counter()
        services.projections.catch_up(["ledger"])
        projected = (postings * rounds + 1) / (time.perf_counter() - started)
        services.close()
    ratios = sorted(d / lib for d, lib in zip(doudi, library, strict=True))
    return {
        "backend": kind,
        "postings": postings,
        "rounds": rounds,
        "library_saves_per_s": [round(x) for x in library],
        "doudi_postings_per_s": [round(x) for x in doudi],
        "median_ratio": round(ratios[len(ratios) // 2], 2),
        "ledger_view_catch_up_per_s": round(projected),
    }


def main() -> None:
    tune_gc()
    parser = argparse.ArgumentParser()
    parser.add_argument("--postings", type=int, default=3000)
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with TemporaryDirectory() as folder:
        for kind in ["postgres", "sqlite"] if args.backend == "both" else [args.backend]:
            print(json.dumps(run(kind, args.postings, args.rounds, Path(folder))), flush=True)


if __name__ == "__main__":
    main()
