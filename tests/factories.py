"""Test data: valid identity numbers and request bodies that read like a case file."""

from __future__ import annotations

from typing import Any

from stdnum.cn import ric


def id_number(region: str = "420582", birth: str = "19950101", sequence: int = 1) -> str:
    """A valid 18-digit identity number (check digit computed with stdnum)."""
    body = f"{region}{birth}{sequence % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def household_body(
    region: str = "420582", *, members: int = 2, seed: int = 1, programme: str = "dibao_urban"
) -> dict[str, Any]:
    people = [
        {
            "id_number": id_number(sequence=seed * 10 + i, birth=f"19{93 + i}0101"),
            "name": f"王{'一二三四五六'[i]}",
            "relation": "self" if i == 0 else "member",
        }
        for i in range(members)
    ]
    return {
        "region_code": region,
        "programme": programme,
        "members": people,
        "address": "当阳市玉阳街道",
        "effective_date": "2024-01-05",
        "document_ref": f"当民申〔2024〕{seed}号",
    }


def income_body(income_fen: int = 40_000) -> dict[str, Any]:
    return {
        "household_income_fen": income_fen,
        "effective_date": "2024-01-10",
        "document_ref": "核对报告2024-01",
    }


def approve_body(**extra: Any) -> dict[str, Any]:
    return {
        "method": "top_up",
        "start_month": "2024-02",
        "payee_account": "6222020200112233445",
        "payee_name": "王一",
        "effective_date": "2024-01-20",
        "document_ref": "当民批〔2024〕1号",
        **extra,
    }
