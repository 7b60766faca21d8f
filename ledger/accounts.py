"""The chart of accounts (SPEC §6): what an account is, and which may never go negative.

An account code reads ``kind:region:qualifier`` — ``pool:420582:dibao`` is 当阳市's dibao fund
pool, ``source:420582:central`` its central-budget funding source, ``reserve:420582101:temporary``
a township's reserve fund (备用金). The chart is closed (``CHART``): each kind sits at one level
of region code and takes a fixed set of qualifiers, so every account has exactly one name.
Balances are debit minus credit; accounts whose money is real cash on hand (pools, reserves,
bank clearing) must never go negative. Each line names the funding source of its money, and a
transaction balances per source (``check_sources``): money never changes funding source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import InvalidValue


class AccountKind(StrEnum):
    SOURCE = "source"  # funding source by level (资金来源): credited when funds are raised
    POOL = "pool"  # county fund pool per programme group: cash available to the county
    RESERVE = "reserve"  # township reserve fund (备用金), advanced by the county
    RESERVED = "reserved"  # roll totals reserved on approval, pending the bank (在途)
    PAYABLE = "payable"  # payables to beneficiaries
    CLEARING = "clearing"  # bank clearing
    RETURNED = "returned"  # failed or returned payments
    RECOVERY = "recovery"  # recoveries receivable (追回)
    DISBURSED = "disbursed"  # paid out to beneficiaries: the expense side


class FundingLevel(StrEnum):
    CENTRAL = "central"  # 中央
    PROVINCIAL = "provincial"  # 省级
    CITY = "city"  # 市本级
    COUNTY = "county"  # 县本级


class TransferCode(StrEnum):
    """Why money moved — every transaction carries one (as TigerBeetle's ``code``)."""

    RAISE = "raise"  # funds raised into a funding source
    ALLOCATE = "allocate"  # 拨付: source → county pool
    RESERVE_ROLL = "reserve_roll"  # roll approved: pool → reserved
    DISBURSE = "disburse"  # bank confirmed: reserved → disbursed
    RELEASE = "release"  # bank failed: reserved → pool (or returned)
    RETURN = "return"  # money returned by the bank or a beneficiary
    ADVANCE = "advance"  # county pool → township reserve
    GRANT = "grant"  # township reserve → disbursed (临时救助 paid)
    REIMBURSE = "reimburse"  # 报账: county pool replenishes a township reserve
    CARRY_OVER = "carry_over"  # 结转: year-end balance carried to the next year
    RECOVER = "recover"  # a recovery received
    REVERSAL = "reversal"  # the mirror of an earlier transaction


NEVER_NEGATIVE = frozenset(
    {AccountKind.POOL, AccountKind.RESERVE, AccountKind.RESERVED, AccountKind.CLEARING}
)
_QUALIFIER = re.compile(r"^[a-z0-9_]{1,32}$")
_REGION = re.compile(r"[0-9]{6}([0-9]{3}){0,2}")  # ASCII digits: str.isdigit() takes any script's

# The programme groups a county's pools (and the reservations, payments, returns and recoveries
# of their rolls) are kept by; ``ops.services.ledger.pool_group`` maps a programme to its group.
PROGRAMME_GROUPS = frozenset({"dibao", "tekun", "temporary"})
FUNDING_LEVELS = frozenset(level.value for level in FundingLevel)
COUNTY_LEVEL, TOWNSHIP_LEVEL = 6, 9  # digits of a 6-digit division code, of a township code
K = AccountKind
# The chart of accounts: the region-code lengths each kind is kept at, and its qualifiers. A
# township's reserve is its 9-digit code's (never 12 digits, never a county's); everything else
# is a 6-digit division's (county, or a city or province that keeps funds); payments are the
# expense of the county (rolls) or of the township whose reserve paid (grants).
CHART: dict[AccountKind, tuple[frozenset[int], frozenset[str]]] = {
    K.SOURCE: (frozenset({COUNTY_LEVEL}), FUNDING_LEVELS),
    K.POOL: (frozenset({COUNTY_LEVEL}), PROGRAMME_GROUPS),
    K.RESERVE: (frozenset({TOWNSHIP_LEVEL}), frozenset({"temporary"})),
    K.RESERVED: (frozenset({COUNTY_LEVEL}), PROGRAMME_GROUPS),
    K.PAYABLE: (frozenset({COUNTY_LEVEL}), PROGRAMME_GROUPS),
    K.CLEARING: (frozenset({COUNTY_LEVEL}), frozenset({"bank"})),
    K.RETURNED: (frozenset({COUNTY_LEVEL}), PROGRAMME_GROUPS),
    K.RECOVERY: (frozenset({COUNTY_LEVEL}), PROGRAMME_GROUPS),
    K.DISBURSED: (frozenset({COUNTY_LEVEL, TOWNSHIP_LEVEL}), PROGRAMME_GROUPS),
}


@dataclass(frozen=True)
class Account:
    kind: AccountKind
    region_code: str
    qualifier: str

    @property
    def code(self) -> str:
        return f"{self.kind}:{self.region_code}:{self.qualifier}"

    @property
    def never_negative(self) -> bool:
        return self.kind in NEVER_NEGATIVE


def parse_account(code: str, field: str = "account") -> Account:
    """An account from its code, refusing anything outside the chart."""
    parts = code.split(":") if isinstance(code, str) else []
    if len(parts) != 3:
        raise InvalidValue(
            f"{field} must read kind:region:qualifier", field=field, rule="account_code"
        )
    kind, region, qualifier = parts
    try:
        account_kind = AccountKind(kind)
    except ValueError:
        raise InvalidValue(
            f"{field} kind must be one of {[k.value for k in AccountKind]}",
            field=field,
            rule="account_kind",
        ) from None
    if not _REGION.fullmatch(region) or not _QUALIFIER.fullmatch(qualifier):
        raise InvalidValue(
            f"{field} needs a 6/9/12-digit region and a lower-case qualifier",
            field=field,
            rule="account_code",
        )
    levels, qualifiers = CHART[account_kind]
    if len(region) not in levels:
        raise InvalidValue(
            f"{field}: a {kind} account is kept at a "
            f"{' or '.join(f'{n}-digit' for n in sorted(levels))} region code",
            field=field,
            rule="account_region_level",
        )
    if qualifier not in qualifiers:
        raise InvalidValue(
            f"{field}: a {kind} account's qualifier is one of {sorted(qualifiers)}",
            field=field,
            rule="funding_level" if account_kind is AccountKind.SOURCE else "account_qualifier",
        )
    return Account(account_kind, region, qualifier)


# Which account kinds each code may debit and credit: money moves only along the flows of SPEC §6,
# so a reserve fund is never diverted (it pays grants, or is replenished) and a funding source is
# only credited when money is raised. A reversal mirrors a transaction that obeyed these rules.
FLOWS: dict[TransferCode, tuple[frozenset[AccountKind], frozenset[AccountKind]]] = {
    TransferCode.RAISE: (frozenset({K.CLEARING}), frozenset({K.SOURCE})),
    TransferCode.ALLOCATE: (frozenset({K.POOL}), frozenset({K.CLEARING, K.SOURCE})),
    TransferCode.RESERVE_ROLL: (frozenset({K.RESERVED}), frozenset({K.POOL})),
    TransferCode.DISBURSE: (frozenset({K.DISBURSED}), frozenset({K.RESERVED})),
    TransferCode.RELEASE: (frozenset({K.POOL, K.RETURNED}), frozenset({K.RESERVED})),
    TransferCode.RETURN: (frozenset({K.CLEARING, K.POOL}), frozenset({K.RETURNED, K.DISBURSED})),
    TransferCode.ADVANCE: (frozenset({K.RESERVE}), frozenset({K.POOL})),
    TransferCode.GRANT: (frozenset({K.DISBURSED}), frozenset({K.RESERVE})),
    TransferCode.REIMBURSE: (frozenset({K.RESERVE}), frozenset({K.POOL})),
    TransferCode.CARRY_OVER: (frozenset({K.RESERVE, K.POOL}), frozenset({K.RESERVE, K.POOL})),
    TransferCode.RECOVER: (frozenset({K.CLEARING, K.POOL}), frozenset({K.RECOVERY})),
}


def check_flow(code: str, lines: list[dict[str, object]]) -> None:
    """Refuse a line whose account kind the transfer code may not move money through."""
    if code == TransferCode.REVERSAL:
        return
    debit_kinds, credit_kinds = FLOWS[TransferCode(code)]
    for index, line in enumerate(lines):
        kind = parse_account(str(line["account"])).kind
        allowed = debit_kinds if int(str(line["debit_fen"])) > 0 else credit_kinds
        if kind not in allowed:
            side = "debit" if int(str(line["debit_fen"])) > 0 else "credit"
            raise InvalidValue(
                f"a {code} transaction may not {side} a {kind} account "
                f"(allowed: {sorted(k.value for k in allowed)})",
                field=f"lines[{index}].account",
                rule="transfer_flow",
            )


def check_sources(lines: list[dict[str, object]]) -> None:
    """Refuse a new transaction that would change money's funding source (SPEC §6): each line
    names one of the four levels, a funding source account's line its own level, and each
    source's debits equal its credits. The empty source is money of no recorded source (held
    since before sources were recorded): a line may name it only where that money leaves a
    never-negative account (whose guard holds it), never where it would appear from nowhere."""
    balance: dict[str, int] = {}
    for index, line in enumerate(lines):
        source, account = str(line["source"]), parse_account(str(line["account"]))
        credit = int(str(line["credit_fen"]))
        field = f"lines[{index}].source"
        if source and source not in FUNDING_LEVELS:
            raise InvalidValue(
                f"{field} is one of {sorted(FUNDING_LEVELS)}", field=field, rule="funding_source"
            )
        if account.kind is AccountKind.SOURCE and source != account.qualifier:
            raise InvalidValue(
                f"{field}: the funding source account {account.code} carries {account.qualifier}"
                " money only",
                field=field,
                rule="funding_source",
            )
        if not source and credit and not account.never_negative:
            raise InvalidValue(
                f"{field}: money of no recorded source only leaves an account that holds it;"
                f" name its funding source, one of {sorted(FUNDING_LEVELS)}",
                field=field,
                rule="funding_source",
            )
        balance[source] = balance.get(source, 0) + int(str(line["debit_fen"])) - credit
    for source, difference in sorted(balance.items()):
        if difference:
            raise InvalidValue(
                f"the lines of funding source {source or '(none)'} do not balance (debits −"
                f" credits = {difference} fen): money keeps its funding source",
                field="lines",
                rule="source_balance",
            )
