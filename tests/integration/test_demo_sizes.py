"""``doudi demo --households N`` funds what its roll pays: a county whose June roll needs more
than the demo's usual allocation still gets its roll approved. On SQLite only: the funding
is worked out from the roll alone, whatever the backend."""

from __future__ import annotations

from pathlib import Path

from api.cli.demo import funded, load_demo
from ops.demo import COUNTY
from ops.services.core import Services
from tests.conftest import make_settings

USUAL_DIBAO_FEN = 300_000_000


def test_funded_covers_the_need_with_a_fifth_to_spare_in_round_figures() -> None:
    assert funded(0, USUAL_DIBAO_FEN) == USUAL_DIBAO_FEN
    assert funded(250_000_000, USUAL_DIBAO_FEN) == USUAL_DIBAO_FEN  # 1.2× = 300,000,000
    assert funded(250_000_001, USUAL_DIBAO_FEN) == 301_000_000
    assert funded(1_000_000_000, USUAL_DIBAO_FEN) == 1_200_000_000


def test_a_demo_larger_than_the_usual_allocation_is_funded_and_paid(tmp_path: Path) -> None:
    services = Services(make_settings(f"sqlite:///{tmp_path}/demo.sqlite3"))
    try:
        load_demo(services, households=8_000, tekun=10)
        services.fresh()
        rolls, _next = services.rolls.search(
            scope_prefix=COUNTY, county=COUNTY, month="2022-06", limit=10
        )
        (june,) = rolls
        assert june["status"] == "approved"
        assert june["total_fen"] > USUAL_DIBAO_FEN  # more than the usual pool could pay
        pools = {row["account"]: row["balance_fen"] for row in services.ledger.balances(COUNTY)}
        assert pools[f"pool:{COUNTY}:dibao"] >= 0
        assert pools[f"reserved:{COUNTY}:dibao"] > USUAL_DIBAO_FEN
    finally:
        services.close()
