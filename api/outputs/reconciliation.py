"""Ledger reports for officers as XLSX: the reconciliation of a county's month."""

from __future__ import annotations

import io
from typing import Any

from api.outputs.cells import Workbook


def reconciliation_xlsx(report: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    book = Workbook(out, in_memory=True)
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00"})

    def sheet(name: str, header: list[str], rows: list[list[Any]], money_columns: set[int]) -> None:
        page = book.add_worksheet(name)
        page.write_row(0, 0, header, bold)
        for number, row in enumerate(rows, start=1):
            for column, value in enumerate(row):
                if column in money_columns and isinstance(value, int):
                    page.write_number(number, column, value / 100, money)
                else:
                    page.write(number, column, value)

    sheet("账户 accounts", ["账户 account", "期初 opening", "借方 debit", "贷方 credit", "期末 closing"],
          [[a["account"], int(a["opening_fen"]), int(a["debit_fen"]), int(a["credit_fen"]), int(a["closing_fen"])]
           for a in report["accounts"]], {1, 2, 3, 4})  # fmt: skip
    sheet("名册 rolls", ["名册 roll", "组 group", "状态 status", "名册 roll", "已付 paid", "失败 failed", "待回 awaiting",
                         "账 ledger disbursed", "账 ledger released", "对账单 statement", "差异 mismatches"],
          [[r["roll_id"], r["group"], r["status"], r["roll_fen"], r["paid_fen"], r["failed_fen"], r["awaiting_fen"],
            r["ledger_disbursed_fen"], r["ledger_released_fen"], -r["statement_fen"], len(r["mismatches"])]
           for r in report["rolls"]], {3, 4, 5, 6, 7, 8, 9})  # fmt: skip
    sheet("差异 mismatches", ["问题 issue", "参考号 reference", "案件 case", "名册 roll", "对账单 statement", "银行结果 result"],
          [[m["issue"], m.get("reference"), m.get("case_id"), m.get("roll_fen", m.get("ledger_fen")),
            m.get("statement_fen"), m.get("bank_result")]
           for r in report["rolls"] for m in r["mismatches"]]
          + [["statement line in no roll", s["reference"], None, None, int(s["amount_fen"]), None]
             for s in report["unmatched_statement_lines"]], {3, 4})  # fmt: skip
    sheet("资金来源 sources", ["来源 source", "拨入 allocated", "支付 disbursed", "结存 held"],
          [[f["source"] or "(none)", f["allocated_fen"], f["disbursed_fen"], f["held_fen"]]
           for f in report["funds_by_source"]], {1, 2, 3})  # fmt: skip
    sheet("结转 carried in", ["账户 account", "结转 carried", "期初 opening", "一致 agrees"],
          [[c["account"], int(c["carried_fen"]), int(c["opening_fen"]), "是" if c["agrees"] else "否"]
           for c in report["carried_in"]], {1, 2})  # fmt: skip
    sheet(
        "滞留 idle",
        ["账户 account", "余额 balance", "自 since", "天 days"],
        [
            [i["account"], i["balance_fen"], i["idle_since"], i["days_idle"]]
            for i in report["idle_allocations"]
        ],
        {1},
    )
    book.close()
    return out.getvalue()
