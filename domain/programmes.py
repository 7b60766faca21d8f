"""Programmes of social assistance (SPEC §2). Kept as data so the set can grow (孤儿 next)."""

from __future__ import annotations

from enum import StrEnum


class Programme(StrEnum):
    DIBAO_URBAN = "dibao_urban"  # 城市低保
    DIBAO_RURAL = "dibao_rural"  # 农村低保
    TEKUN_CENTRALIZED = "tekun_centralized"  # 特困集中供养
    TEKUN_DISPERSED = "tekun_dispersed"  # 特困分散供养
    MARGINAL = "marginal"  # 低保边缘家庭
    TEMPORARY = "temporary"  # 临时救助


HOUSEHOLD_PROGRAMMES = frozenset({Programme.DIBAO_URBAN, Programme.DIBAO_RURAL, Programme.MARGINAL})
TEKUN_PROGRAMMES = frozenset({Programme.TEKUN_CENTRALIZED, Programme.TEKUN_DISPERSED})


class TemporaryType(StrEnum):
    URGENT = "urgent"  # 急难型
    EXPENDITURE = "expenditure"  # 支出型


class PaymentMethod(StrEnum):
    TOP_UP = "top_up"  # 补差
    TIER = "tier"  # 分档


class CareLevel(StrEnum):
    FULL_SELF_CARE = "full_self_care"  # 全自理
    PARTIAL = "partial"  # 半自理
    NONE = "none"  # 全护理 (no self-care)


class SupportMode(StrEnum):
    CENTRALIZED = "centralized"
    DISPERSED = "dispersed"


def dibao_programme_for(region_code: str) -> str:
    """特困 support is a multiple of the urban or the rural dibao standard: a township code's digits
    7–9 under 100 are a sub-district (街道, urban), otherwise a town or township (rural)."""
    if len(region_code) >= 9 and int(region_code[6:9]) >= 100:
        return "dibao_rural"
    return "dibao_urban"


def standard_programme(kind: str, programme: str, region_code: str) -> str:
    """The programme whose standard a case's amounts are reckoned on: 特困 support and its
    price-linked subsidy on the dibao standard of the case's region (``dibao_programme_for``),
    any other case on its own programme's."""
    return dibao_programme_for(region_code) if kind == "tekun" else programme
