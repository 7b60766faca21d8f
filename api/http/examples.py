"""A worked example request for every POST body, as `/docs` shows it: one county's case file.

当阳市 (420582): an urban standard of 670 yuan a month (67,000 fen; money is always integer fen,
1 yuan = 100 fen), 特困 at 130 % of it, care at 15 % of an 1,800-yuan minimum wage; a household
of two with 300 yuan of income, approved for a top-up of 670 × 2 − 300 = 1,040 yuan a month; a
特困 person, applied for by a case worker and approved by another person; a temporary grant; a
roll and its funding; a registry record dismissed and misuse findings reviewed.
``openapi.document`` puts each example on the operation whose body has that schema;
``tests/api/test_openapi.py`` validates every one against its schema.
"""

from __future__ import annotations

from typing import Any, Final

HEAD = "420582198503120028"  # 18-digit identity numbers of the example (check digits valid)
MEMBER = "420582199001150037"
ELDER = "420582195207080013"
# The id POST /tekun/applications answered for 王建国 (a worked run puts in the real one).
APPLICATION = "5b1f7a52-3c9e-4d1a-9e47-0c2d8b6f4a13"
DOC = {"document_ref": "当民发〔2024〕12号"}
DECIDED = {"effective_date": "2024-04-01", **DOC}

JSON_EXAMPLES: Final[dict[str, dict[str, Any]]] = {
    "StandardIn": {"programme": "dibao_urban", "amount_fen": 67_000, "period": "month",
                   "effective_date": "2024-01-01", **DOC},
    "TiersIn": {"programme": "dibao_rural", "tiers": {"A": 50_000, "B": 35_000},
                "effective_date": "2024-01-01", **DOC},
    "TekunRuleIn": {"multiplier_percent": 130, "explicit_amount_fen": None,
                    "effective_date": "2024-01-01", **DOC},
    "CareStandardIn": {"level": "partial", "percent_of_minimum_wage": 15,
                       "effective_date": "2024-01-01", **DOC},
    "MinimumWageIn": {"amount_fen": 180_000, "effective_date": "2024-01-01", **DOC},
    "GradualExitRuleIn": {"pay_percent": 100, "effective_date": "2024-01-01", **DOC},
    "RoundingIn": {"unit": "yuan", "mode": "half_up", "effective_date": "2024-01-01", **DOC},
    "PriceIndexIn": {"month": "2024-03", "cpi_yoy_permille": 36, "food_cpi_yoy_permille": 52,
                     **DOC},
    "PriceLinkageIn": {"cpi_threshold_permille": 35, "food_threshold_permille": 60,
                       "minimum_fen": 1_000, "programmes": ["dibao_urban", "tekun_dispersed"],
                       "effective_date": "2024-01-01", **DOC},
    "ElectricityIn": {"amount_fen_per_quarter": 3_000, "pay_month_of_quarter": 3,
                      "programmes": ["dibao_urban"], "effective_date": "2024-01-01", **DOC},
    "OneTimeIn": {"name": "春节一次性生活补贴", "amount_fen": 50_000, "per": "person",
                  "pay_month": "2024-02", "programmes": ["dibao_urban", "tekun_dispersed"],
                  "effective_date": "2024-01-15", **DOC},
    "ApprovalLimitsIn": {"township_limit_fen": 300_000, "committee_limit_fen": 2_000_000,
                         "effective_date": "2024-01-01", **DOC},
    "LedgerConfirmationIn": {"threshold_fen": 100_000_000, "effective_date": "2024-01-01",
                             **DOC},
    "RollDeputyIn": {"staff_id": "E2048", "effective_date": "2024-01-01", **DOC},
    "MisuseThresholdsIn": {"grant_window_days": 90, "repeat_grant_count": 3,
                           "backdate_days": 60, "payment_deadline_day": 10,
                           "idle_days": 90, "above_standard_percent": 100,
                           "effective_date": "2024-01-01", **DOC},
    "HouseholdApplyIn": {
        "region_code": "420582001", "programme": "dibao_urban", "address": "当阳市玉阳街道",
        "members": [{"id_number": HEAD, "name": "王芳", "relation": "self"},
                    {"id_number": MEMBER, "name": "王小明", "relation": "child"}],
        "effective_date": "2024-03-05", **DOC,
    },
    "IncomeIn": {"household_income_fen": 30_000, "excluded_income_fen": 0,
                 "rigid_expenditure_fen": 0, "employment_cost_fen": 0, "assets_fen": 0,
                 "deposits_fen": 500_000, "data_matches": [], "effective_date": "2024-03-10",
                 **DOC},
    "ApproveIn": {"method": "top_up", "start_month": "2024-04", "payee_account":
                  "6222020200112233445", "payee_name": "王芳", "annual_review_due": "2025-03-31",
                  "effective_date": "2024-03-20", **DOC},
    "ReasonIn": {"reason": "外出务工，暂停发放", **DECIDED},
    "AddMemberIn": {"member": {"id_number": ELDER, "name": "王建国", "relation": "parent"},
                    **DECIDED},
    "RemoveMemberIn": {"id_number": MEMBER, "reason": "户口迁出", **DECIDED},
    "TierIn": {"tier_code": "A", **DECIDED},
    "PayeeAccountIn": {"account_number": "6217003312345678", "account_name": "王芳", **DECIDED},
    "PlainDecision": dict(DECIDED),
    "GradualExitIn": {"months": 6, **DECIDED},
    "TerminateIn": {"reason": "income_above_standard", **DECIDED},
    "AnnualReviewIn": {"outcome": "复核仍符合低保条件", "next_due": "2025-04-01",
                       "eligible": True, **DECIDED},
    "TekunApplyIn": {"region_code": "420582001", "id_number": ELDER, "name": "王建国",
                     "effective_date": "2024-03-18", **DOC},
    "TekunApproveIn": {"application_id": APPLICATION, "region_code": "420582001",
                       "id_number": ELDER, "name": "王建国", "mode": "dispersed",
                       "care_level": "partial",
                       "payee_account": "6217003312345678", "payee_name": "王建国",
                       "start_month": "2024-04", "effective_date": "2024-03-25", **DOC},
    "CareLevelIn": {"care_level": "none", **DECIDED},
    "ModeIn": {"mode": "centralized", "institution": {"name": "当阳市社会福利院",
               "account_number": "6228480012345678"}, **DECIDED},
    "RegistryIn": {"kind": "death", "source": "公安户籍", "source_ref": "SW-2024-000123",
                   "id_number": ELDER, "region_code": "420582001",
                   "effective_date": "2024-05-10", "details": {"place": "当阳市"}},
    "DismissIn": {"note": "经派出所核实，本人健在，死亡记录系录入错误",
                  "document_ref": "当民发〔2024〕21号"},
    "ExplainIn": {"note": "两次临时救助分别因火灾和重病，经入户核实非拆分申请",
                  "document_ref": "当民审〔2024〕5号"},
    "ConfirmIn": {"outcome": "recovery", "note": "重复领取临时救助，责令退回 2,000 元",
                  "document_ref": "当民审〔2024〕6号"},
    "PersonQuery": {"id_number": HEAD},
    "CredentialIn": {"role": "case_worker", "region_scope": "420582001", "label": "玉阳街道",
                     "staff_id": "E1024", "expires_at": "2025-12-31T00:00:00Z"},
    "RollGenerateIn": {"county_code": "420582", "month": "2024-04", "group": "all"},
    "TransactionIn": {
        "code": "allocate", "posting_date": "2024-04-02", "description": "中央困难群众救助补助资金",
        "lines": [{"account": "pool:420582:dibao", "debit_fen": 10_000_000, "source": "central"},
                  {"account": "clearing:420582:bank", "credit_fen": 10_000_000,
                   "source": "central"}],
        **DOC,
    },
    "ReversalIn": {"posting_date": "2024-04-03", **DOC},
    "PeriodCloseIn": dict(DOC),
    "GrantRequestIn": {"region_code": "420582001", "occurred_in": "420582001",
                       "id_number": HEAD, "name": "王芳", "grant_type": "urgent",
                       "amount_fen": 200_000, "reason": "火灾，住房受损",
                       "effective_date": "2024-04-08", **DOC},
    "GrantApproveIn": {"paying_township": "420582001", "committee_document_ref": None,
                       "effective_date": "2024-04-09", **DOC},
    "GrantPayIn": {"posting_date": "2024-04-10"},
    "SupplementIn": {"note": "补充火灾证明材料", "effective_date": "2024-04-20", **DOC},
}  # fmt: skip

# The CSV bodies, by the operation's path (each line's money in integer fen).
CSV_EXAMPLES: Final[dict[str, str]] = {
    "/api/v1/rolls/{roll_id}/bank-results": (
        "reference,amount_fen,status,reason\r\n"
        "420582202404A0000001,104000,paid,\r\n"
        "420582202404A0000002,84000,failed,账户已销户\r\n"
    ),
    "/api/v1/ledger/statements/{county_code}": (
        "reference,amount_fen,booked_on,description\r\n"
        "420582202404A0000001,104000,2024-04-12,低保金代发\r\n"
    ),
}
