"""Roll generation for a synthetic county: generate, store and project one month's roll.

    python -m ops.bench.roll_bench --households 100000 [--backend postgres|sqlite|both]

Cases are loaded with the bulk import first (not timed here; see import_bench), the demo policy
book is recorded, then a fresh process generates the roll for 2022-06 (all programmes): reading
case facts, computing every line, storing ~1 chunk event per 1,000 lines, and projecting the
lines into the rolls view. Time and the peak RSS of that process are printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from domain.access import Principal
from ops.bench.databases import fresh_database
from ops.demo import COUNTY, policy_facts, write_roster
from ops.importer import import_households
from ops.rolls import generate_roll
from ops.services import Services
from ops.settings import Settings


def settings(url: str) -> Settings:
    return Settings(environment="test", database_url=url, secret="bench")


def load(url: str, households: int, folder: Path) -> None:
    services = Services(settings(url))
    operator = Principal("bench", "admin", "000000")
    for kind, fields in policy_facts():
        services.app.save(*services.set_policy(operator, COUNTY, kind, fields).aggregates)
    roster = folder / "roster.csv"
    with roster.open("w", encoding="utf-8", newline="") as stream:
        write_roster(stream, households, seed=3)
    with roster.open(encoding="utf-8", newline="") as stream:
        import_households(services, stream, "bench")
    services.fresh()
    services.close()


def generate(url: str) -> dict[str, object]:
    services = Services(settings(url))
    services.fresh()
    operator = Principal("bench", "admin", "000000")
    started = time.perf_counter()
    outcome = generate_roll(services, operator, COUNTY, "2022-06", "all")
    services.app.save(*outcome.aggregates)
    generated = time.perf_counter() - started
    services.projections.catch_up(["rolls"])
    total = time.perf_counter() - started
    services.close()
    lines = int(outcome.response["line_count"])
    return {
        "lines": lines,
        "generate_and_store_s": round(generated, 2),
        "end_to_end_s": round(total, 2),
        "lines_per_s": round(lines / total),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run(kind: str, households: int, folder: Path) -> dict[str, object]:
    with fresh_database(kind, folder, "doudi_rollbench") as url:
        load(url, households, folder)
        child = subprocess.run([sys.executable, "-m", "ops.bench.roll_bench", "--generate", url],
                               check=True, capture_output=True, text=True)  # fmt: skip
        return {
            "backend": kind,
            "households": households,
            **json.loads(child.stdout.strip().splitlines()[-1]),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(generate(args.generate)))
        return
    with TemporaryDirectory() as folder:
        for kind in ["postgres", "sqlite"] if args.backend == "both" else [args.backend]:
            print(json.dumps(run(kind, args.households, Path(folder))), flush=True)


if __name__ == "__main__":
    main()
