"""Path parameters with the patterns the OpenAPI document shows and FastAPI enforces (422).

Digits are ASCII (``[0-9]``, not ``\\d``, which also matches other scripts' digits).
"""

from typing import Annotated

from fastapi import Path

from api.http.schemas import MONTH_PATTERN, TEXT_RULE
from domain.dates import FIRST_YEAR, LAST_YEAR
from ledger.accounts import AccountKind

REGION = r"^[0-9]{6}([0-9]{3}|[0-9]{6})?$"
COUNTY = r"^[0-9]{6}$"
MONTH = MONTH_PATTERN  # the body's and the query's month: years 1990–2100 in the pattern
ACCOUNT = rf"^({'|'.join(kind.value for kind in AccountKind)}):{REGION[1:-1]}:[a-z0-9_]{{1,32}}$"

RegionCode = Annotated[
    str,
    Path(
        pattern=REGION,
        description="GB/T 2260 code: 6 digits (county and above), 9 or 12 (township)",
        examples=["420582"],
    ),
]
CountyCode = Annotated[
    str, Path(pattern=COUNTY, description="6-digit county code", examples=["420582"])
]
Month = Annotated[
    str,
    Path(pattern=MONTH, description="YYYY-MM, month 01–12, years 1990–2100", examples=["2022-06"]),
]
Year = Annotated[
    int, Path(ge=FIRST_YEAR, le=LAST_YEAR, description="calendar year", examples=[2022])
]
Account = Annotated[
    str,
    Path(
        pattern=ACCOUNT,
        description="ledger account kind:region:qualifier",
        examples=["pool:420582:dibao"],
    ),
]
TransactionKey = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="the key (Idempotency-Key) the transaction was posted with",
    ),
    TEXT_RULE,
]
