"""Misuse findings over a synthetic province: from an empty findings view, and incrementally
after a month's roll.

    python -m ops.bench.findings_bench --households 100000 [--counties 13] [--backend postgres|sqlite]
    python -m ops.bench.findings_bench --copy-of doudi_base_1m --households 1000000 --month 2023-01

Not timed: cases loaded with the bulk import (as ``roll_bench`` loads them), or, with
``--copy-of``, a copy of an already loaded PostgreSQL database (made from it as a template,
dropped at the end; ``--households`` then names the roster it was loaded from, seed 3), every
view caught up, then planted hits: a death record, a vehicle record and a cadre's relative for
one active household in a thousand (its first member, read from the case), and, for one in ten
thousand, that member added to another county's case past the enrolment guard (the two-cases
rule). Timed:

1. ``from_empty_s``: the findings view rebuilt from position 0, beside two yardsticks in the
   same run: ``log_read_s``, a bare read of the notifications of the view's topics, and
   ``log_decode_s``, the same read with every notification decoded to its event (what any
   per-event catch-up costs at least); with ``--case-state`` the case-state view's rebuild too;
2. ``roll_s``: each county's roll for the month generated, approved and projected into the
   rolls view (one process), and after each, on its own clock, ``incremental_s``: the findings
   view catching up with that roll (copying what they paid, checking the cases a rule can fire on, the months above the
   standard, the pools' postings).

Then (``--check-rebuild``) the view rebuilt once more and compared with the live one; with
``--per-event`` also rebuilt event by event, without the bulk start (``per_event_s``), and compared.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from uuid import UUID

from domain.access import Principal, Role
from domain.household import HouseholdCase
from ledger.store.runtime import tune_gc
from ops.bench.databases import fresh_database, peak_rss_mib
from ops.bench.roll_bench import COUNTIES, load, settings
from ops.services.access import RecordRegistryEntry
from ops.services.core import Services
from projections.runner import BATCH_SIZE


def active_cases(services: Services) -> list[tuple[str, str]]:
    """Every active household case (id, region code), in case-id order."""
    with services.db.transaction() as cur:
        rows = cur.execute(
            "SELECT case_id, region_code FROM case_state WHERE kind = 'household'"
            " AND status = 'active' ORDER BY case_id"
        ).fetchall()
    return [(row["case_id"], row["region_code"]) for row in rows]


def first_member(services: Services, case_id: str) -> str:
    """The identity number of a case's first member (read from the case, as loaded)."""
    case: HouseholdCase = services.app.repository.get(UUID(case_id))
    return sorted(case.members)[0]


def plant(services: Services, cases: list[tuple[str, str]], every: int = 333) -> int:
    """Registry hits on one active household in ``every`` (its first member): a death, a
    vehicle and a cadre's relative in turn. The people are read from the cases themselves, so
    any loaded database takes them, whatever roster it was loaded from."""
    operator = Principal("bench", "admin", "000000", staff_id="bench")
    planted = 0
    for number, (case_id, region) in enumerate(cases[::every]):
        kind = ("death", "vehicle", "cadre_relative")[number % 3]
        details = {"staff_id": "E1"} if kind == "cadre_relative" else {}
        command = RecordRegistryEntry(
            kind=kind, source="bench", source_ref=f"{kind}-{number}",
            id_number=first_member(services, case_id), region_code=region,
            effective_date="2022-10-15", details=details,
        )  # fmt: skip
        services.execute(operator, None, "", command)
        planted += 1
    return planted


def plant_twice(services: Services, cases: list[tuple[str, str]]) -> int:
    """For one active household in ten thousand, its first member added to a case of another
    county straight through the application (past the enrolment guard, as a migrated caseload
    would be): the two-cases rule's hits."""
    planted = 0
    for case_id, region in cases[5::10_000]:
        other = next((c for c, r in cases[::-1] if r[:6] != region[:6]), None)
        if other is None:
            continue
        case: HouseholdCase = services.app.repository.get(UUID(other))
        case.add_member(member={"id_number": first_member(services, case_id), "name": "王某"},
                        effective_date="2022-10-15", actor="bench", document_ref="迁移")  # fmt: skip
        services.app.save(case)
        planted += 1
        cases = [(c, r) for c, r in cases if c != other]  # each a different case
    return planted


def read_log(services: Services, decode: bool) -> int:
    """Read every notification of the findings view's topics (decoding each if asked): the
    floor of a per-event pass over the log. Returns how many."""
    runner = services.projections
    topics, start, head, count = runner.topics(["findings"]), 0, services.log_position(), 0
    while start < head:
        notifications, covered = runner.reader(start + 1, BATCH_SIZE, topics, ())
        if decode:
            for notification in notifications:
                runner.decoder(notification)
        count += len(notifications)
        if covered <= start:
            break
        start = covered
    return count


def run(
    kind: str, households: int, counties: tuple[str, ...], month: str, folder: Path,
    template: str | None = None, case_state: bool = False, from_empty: bool = True,
    check: bool = True, plant_every: int = 333, per_event: bool = False,
) -> dict[str, Any]:  # fmt: skip
    from ops.services.ledger import confirm_posting, post_transaction
    from ops.services.rolls import approve_roll, generate_roll

    database = fresh_database(kind, folder, "h_findings", template)
    with database as url:
        if template is None:
            load(url, households, counties, folder)
        services = Services(settings(url))
        result: dict[str, Any] = {"backend": kind, "households": households}
        cases = active_cases(services)
        result["planted"] = plant(services, cases, plant_every)
        result["planted_twice"] = plant_twice(services, cases)
        services.fresh()
        result["log_positions"] = services.log_position()
        for name, decode in (("log_read_s", False), ("log_decode_s", True)):
            started = time.perf_counter()
            result["notifications"] = read_log(services, decode)
            result[name] = round(time.perf_counter() - started, 2)
        views = ("case_state",) if case_state else ()
        for view in (*views, "findings") if from_empty else views:
            started = time.perf_counter()
            services.projections.rebuild(view)
            result[f"{view}_rebuild_s"] = round(time.perf_counter() - started, 2)
        if from_empty:
            result["from_empty_s"] = result.pop("findings_rebuild_s")
        operator = Principal("bench", "admin", "000000", staff_id="bench")
        checker = Principal("bench-checker", "admin", "000000", staff_id="bench-checker")
        meta = {"document_ref": "bench", "description": "bench"}
        for county in counties:
            bank, fen = f"clearing:{county}:bank", 10**12
            for number, (code, lines) in enumerate(
                [("raise", [(bank, fen, 0), (f"source:{county}:central", 0, fen)])]
                + [("allocate", [(f"pool:{county}:{p}", fen // 4, 0), (bank, 0, fen // 4)])
                   for p in ("dibao", "tekun")]
            ):  # fmt: skip
                fields = {"code": code, "posting_date": f"{month}-01", **meta, "lines": [
                    {"account": a, "debit_fen": d, "credit_fen": c, "source": "central"} for a, d, c in lines]}  # fmt: skip
                key = f"b-{county}-{month}-{number}"
                outcome = post_transaction(services, operator, key, fields)
                services.app.save(*outcome.aggregates)
                if outcome.status_code == 202:  # above the confirmation threshold: a second person
                    services.app.save(*confirm_posting(services, checker, key).aggregates)
        services.fresh()
        # Each county's roll, then the findings view's pass over it, each on its own clock (a
        # roll's generation brings every view up to the log first, so without the findings'
        # own catch-up in between the previous county's pass would count as this roll's).
        roll_s = incremental_s = 0.0
        for county in counties:
            started = time.perf_counter()
            roll = generate_roll(services, operator, county, month, "all")
            services.app.save(*roll.aggregates)
            finance = Principal("bench-finance", Role.FINANCE_OFFICER, county, staff_id="f2")
            services.app.save(*approve_roll(services, finance, roll.response["roll_id"]).aggregates)
            services.projections.catch_up(["rolls"])
            between = time.perf_counter()
            services.projections.catch_up(["findings"])
            roll_s += between - started
            incremental_s += time.perf_counter() - between
        result["roll_s"], result["incremental_s"] = round(roll_s, 2), round(incremental_s, 2)
        result["incremental_of_roll"] = round(result["incremental_s"] / result["roll_s"], 3)
        if check:  # the same findings, ids and all, from an empty view (seeded, event by event)
            live = services.projections.dump("findings")
            services.projections.rebuild("findings")
            result["rebuild_equal"] = services.projections.dump("findings") == live
            if per_event:
                services.findings.seed = lambda cur, positions: 0  # type: ignore[method-assign]
                started = time.perf_counter()
                services.projections.rebuild("findings")
                result["per_event_s"] = round(time.perf_counter() - started, 2)
                result["per_event_equal"] = services.projections.dump("findings") == live
        total, money, _items, by_rule, _next = services.findings.search(
            scope_prefix="", rule=None, status=None, period=None, staff_id=None, limit=1
        )
        result.update(
            findings=total, amount_fen=money, by_rule=by_rule, peak_rss_mib=peak_rss_mib()
        )
        services.close()
        return result


def main() -> None:
    tune_gc()
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--counties", type=int, default=13)
    parser.add_argument("--month", default="2022-12")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--copy-of", help="a loaded PostgreSQL database to copy (not timed)")
    parser.add_argument("--case-state", action="store_true", help="time its rebuild too")
    parser.add_argument(
        "--from-empty", action=argparse.BooleanOptionalAction, default=True,
        help="time the findings view's rebuild from position 0 (a copy has it caught up)",
    )  # fmt: skip
    parser.add_argument("--plant-every", type=int, default=333, help="households per registry hit")
    parser.add_argument(
        "--check-rebuild", action=argparse.BooleanOptionalAction, default=True,
        help="rebuild once more at the end and compare with the live view",
    )  # fmt: skip
    parser.add_argument("--per-event", action="store_true",
                        help="with the check, rebuild event by event too (timed) and compare")  # fmt: skip
    args = parser.parse_args()
    with TemporaryDirectory() as folder:
        result = run(
            args.backend, args.households, COUNTIES[: args.counties], args.month, Path(folder),
            args.copy_of, args.case_state, args.from_empty, args.check_rebuild, args.plant_every,
            args.per_event,
        )  # fmt: skip
        print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
