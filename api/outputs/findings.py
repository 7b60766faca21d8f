"""The audit team's XLSX of findings: one row per finding (rule, severity, region, status, the
case, person and grant it names, the money and months involved, when it was detected), every
text a text cell (``domain/cells.py``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

from api.outputs.cells import Workbook

COLUMNS = (
    "编号 finding_id", "规则 rule", "严重程度 severity", "地区 region_code", "状态 status",
    "案件 case_id", "身份证 id_masked", "临时救助 grant_id", "涉及金额 amount (yuan)", "月份 months",
    "日期 dated", "发现于 detected_at", "发现位置 detected_position", "结论 outcome", "证据 evidence",
)  # fmt: skip


def findings_xlsx(findings: Iterable[dict[str, Any]], totals: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    book = Workbook(out, in_memory=True)
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00"})
    sheet = book.add_worksheet("问题线索 findings")
    sheet.write_row(0, 0, COLUMNS, bold)
    row = 0
    for row, found in enumerate(findings, start=1):
        sheet.write_row(row, 0, [
            found["finding_id"], found["rule"], found["severity"], found["region_code"],
            found["status"], found.get("case_id"), found.get("id_masked"), found.get("grant_id"),
        ])  # fmt: skip
        sheet.write_number(row, 8, found["amount_fen"] / 100, money)
        sheet.write_row(row, 9, [
            " ".join(found.get("months") or []), found["dated"], found["detected_at"],
            found["detected_position"], found.get("outcome"),
            json.dumps(found["evidence"], ensure_ascii=False, sort_keys=True),
        ])  # fmt: skip
    summary = book.add_worksheet("汇总 by rule")
    summary.write_row(0, 0, ["规则 rule", "条数 count", "涉及金额 amount (yuan)"], bold)
    line = 0
    for line, (rule, bucket) in enumerate(sorted(totals["by_rule"].items()), start=1):
        summary.write_row(line, 0, [rule, bucket["count"]])
        summary.write_number(line, 2, bucket["amount_fen"] / 100, money)
    summary.write_row(line + 1, 0, ["合计 total", totals["total"]], bold)
    summary.write_number(line + 1, 2, totals["amount_fen"] / 100, money)
    book.close()
    return out.getvalue()
