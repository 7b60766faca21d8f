"""Policy book: every effective-dated fact of every region, as recorded."""

from __future__ import annotations

import json
from typing import Any

from domain.policy import RegionPolicy
from ledger.store.db import Cursor
from projections.runner import event_name, utc_text

# kind of fact, and the event field that names the item it is about (programme or care level)
FACTS: dict[type[Any], tuple[str, str | None]] = {
    RegionPolicy.StandardSet: ("standard", "programme"),
    RegionPolicy.TiersSet: ("tiers", "programme"),
    RegionPolicy.TekunRuleSet: ("tekun_rule", None),
    RegionPolicy.CareStandardSet: ("care_standard", "level"),
    RegionPolicy.MinimumWageSet: ("minimum_wage", None),
    RegionPolicy.RoundingRuleSet: ("rounding", None),
    RegionPolicy.PriceIndexRecorded: ("price_index", "month"),
    RegionPolicy.PriceLinkageSet: ("price_linkage", None),
    RegionPolicy.ElectricitySubsidySet: ("electricity", None),
    RegionPolicy.OneTimeSubsidySet: ("one_time", "name"),
    RegionPolicy.ApprovalLimitsSet: ("approval_limits", None),
}
ENVELOPE = {
    "originator_id",
    "originator_version",
    "timestamp",
    "effective_date",
    "actor",
    "document_ref",
}


class PolicyBookProjection:
    def __init__(self) -> None:
        self.regions: dict[str, str] = {}

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        match event:
            case RegionPolicy.Opened():
                cur.execute(
                    "INSERT INTO policy_regions (policy_id, region_code) VALUES (%s, %s)",
                    (str(event.originator_id), event.region_code),
                )
            case RegionPolicy.Event() if type(event) in FACTS:
                kind, item_field = FACTS[type(event)]
                payload = {k: v for k, v in vars(event).items() if k not in ENVELOPE}
                cur.execute(
                    "INSERT INTO policy_facts (position, region_code, kind, item, effective_date, recorded_at,"
                    " payload, actor, document_ref, event_type, originator_id, originator_version)"
                    " SELECT %s, region_code, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM policy_regions"
                    " WHERE policy_id = %s",
                    (
                        position,
                        kind,
                        payload.get(item_field, "") if item_field else "",
                        event.effective_date,
                        utc_text(event.timestamp),
                        json.dumps(payload, sort_keys=True),
                        event.actor,
                        event.document_ref,
                        event_name(event),
                        str(event.originator_id),
                        event.originator_version,
                        str(event.originator_id),
                    ),
                )
