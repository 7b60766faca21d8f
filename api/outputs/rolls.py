"""Rolls for people: the officers' XLSX and the public-disclosure version (公示).

Both stream the roll's lines from the read model page by page (xlsxwriter's constant-memory
mode writes rows as they come), so a county roll of any size is written without holding it.
The XLSX has a summary sheet (totals per programme and per township) and a lines sheet with each
component; the disclosure keeps the township, programme, covered persons and amount, masks the
name (张** ) and shows no identity number and no account.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from api.outputs.cells import Workbook
from domain.cells import csv_row
from domain.identity import mask_name
from domain.money import format_yuan
from domain.programmes import Programme
from ops.services.core import Services

PAGE = 2000
PROGRAMME_NAMES = {
    Programme.DIBAO_URBAN: "城市低保", Programme.DIBAO_RURAL: "农村低保", Programme.MARGINAL: "低保边缘",
    Programme.TEKUN_CENTRALIZED: "特困集中供养", Programme.TEKUN_DISPERSED: "特困分散供养",
}  # fmt: skip
COMPONENT_CODES = (
    "base",
    "care",
    "price_subsidy",
    "electricity",
    "one_time",
    "backpay",
    "recovery",
)


def all_lines(services: Services, roll_id: str) -> Iterator[dict[str, Any]]:
    return services.rolls.all_lines(roll_id, PAGE)


def component_totals(line: dict[str, Any]) -> dict[str, int]:
    totals = dict.fromkeys(COMPONENT_CODES, 0)
    for component in line["components"]:
        totals[component["code"]] = totals.get(component["code"], 0) + component["amount_fen"]
    return totals


def people_of(services: Services, roll_id: str) -> list[tuple[str, str]]:
    """Who took each step of the roll (staff ids, as its events record them): 经办人 generated
    the current draft, 审批人 approved it (as deputy under a named policy fact, if so), 发放经办人
    sent the bank file; a step not yet taken is blank."""
    roll = services.app.repository.get(UUID(roll_id))
    approved = getattr(roll, "approved_by", "")
    deputy = getattr(roll, "deputy_policy", "")
    return [
        ("经办人 prepared by", roll.generated_by),
        ("审批人 approved by", f"{approved} (deputy: {deputy})" if deputy else approved),
        ("发放经办人 bank file sent by", getattr(roll, "sent_by", "")),
    ]


def roll_xlsx(services: Services, roll: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    book = Workbook(out, constant_memory=True, in_memory=True)
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00"})
    summary = book.add_worksheet("汇总 summary")
    summary.write_row(
        0,
        0,
        [
            "县区 county",
            roll["county_code"],
            "月份 month",
            roll["month"],
            "状态 status",
            roll["status"],
        ],
        bold,
    )
    summary.write_row(
        2, 0, ["项目 programme", "户数 lines", "人数 persons", "金额 amount (yuan)"], bold
    )
    row = 3
    for programme, bucket in roll["totals"].get("by_programme", {}).items():
        summary.write_row(
            row,
            0,
            [
                f"{PROGRAMME_NAMES.get(programme, programme)} ({programme})",
                bucket["lines"],
                bucket["persons"],
            ],
        )
        summary.write_number(row, 3, bucket["amount_fen"] / 100, money)
        row += 1
    summary.write_row(row, 0, ["合计 total", roll["line_count"], roll["persons"]], bold)
    summary.write_number(row, 3, roll["total_fen"] / 100, money)
    row += 2
    for label, person in people_of(services, roll["roll_id"]):
        summary.write_row(row, 0, [label, person], bold)
        row += 1
    row += 1
    summary.write_row(
        row, 0, ["乡镇 township", "户数 lines", "人数 persons", "金额 amount (yuan)"], bold
    )
    for township, bucket in roll["totals"].get("by_township", {}).items():
        row += 1
        summary.write_row(row, 0, [township, bucket["lines"], bucket["persons"]])
        summary.write_number(row, 3, bucket["amount_fen"] / 100, money)
    lines = book.add_worksheet("名册 lines")
    header = ["序号 no", "乡镇 township", "项目 programme", "户主 head", "身份证 id (masked)", "收款人 payee",
              "账号 account (masked)", "保障人数 covered", *[f"{c} (yuan)" for c in COMPONENT_CODES],
              "实发 payable (yuan)", "应收回 receivable (yuan)", "银行结果 bank"]  # fmt: skip
    lines.write_row(0, 0, header, bold)
    for index, line in enumerate(all_lines(services, roll["roll_id"]), start=1):
        parts = component_totals(line)
        lines.write_row(index, 0, [line["line_no"] + 1, line["region_code"][:9], line["programme"], line["head_name"],
                                   line["head_id_masked"], line["payee_name"], line["account_masked"],
                                   line["covered_members"]])  # fmt: skip
        for column, code in enumerate(COMPONENT_CODES, start=8):
            lines.write_number(index, column, parts[code] / 100, money)
        lines.write_number(index, 8 + len(COMPONENT_CODES), line["total_fen"] / 100, money)
        lines.write_number(index, 9 + len(COMPONENT_CODES), line["receivable_fen"] / 100, money)
        lines.write(index, 10 + len(COMPONENT_CODES), line.get("bank_status"))
    _held_sheet(book, roll, bold, money)
    book.close()
    return out.getvalue()


def _held_sheet(book: Workbook, roll: dict[str, Any], bold: Any, money: Any) -> None:
    """The lines the roll holds (a death record: 次月停发), with the reason; never paid by it."""
    held = book.add_worksheet("暂停发放 held")
    held.write_row(0, 0, ["案件 case_id", "乡镇 township", "项目 programme", "身份证 id (masked)",
                          "原因 reason", "死亡日期 death_date", "起停月份 held_from", "记录 record",
                          "暂停金额 amount (yuan)"], bold)  # fmt: skip
    for row, line in enumerate(roll["totals"].get("held", []), start=1):
        held.write_row(row, 0, [line["case_id"], line["region_code"][:9], line["programme"],
                                line["id_masked"], line["reason"], line["death_date"],
                                line["held_from"], line["event"]])  # fmt: skip
        held.write_number(row, 8, line["amount_fen"] / 100, money)


def disclosure_csv(services: Services, roll: dict[str, Any]) -> bytes:
    """公示: township, programme, masked name, covered persons, amount; no identity number, no account."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["乡镇 township", "项目 programme", "户主 head", "保障人数 covered", "金额 amount (yuan)"]
    )
    for line in all_lines(services, roll["roll_id"]):
        if line["total_fen"] <= 0:
            continue
        writer.writerow(
            csv_row(
                [
                    line["region_code"][:9],
                    PROGRAMME_NAMES.get(line["programme"], line["programme"]),
                    mask_name(line["head_name"]),
                    line["covered_members"],
                    format_yuan(line["total_fen"]),
                ]
            )
        )
    return out.getvalue().encode("utf-8-sig")
