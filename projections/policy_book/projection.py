"""Policy book: every effective-dated fact of every region, as recorded."""

from __future__ import annotations

import json
from typing import Any

from domain.policy import RegionPolicy
from ledger.store.db import Cursor
from projections.runner import event_name, utc_text


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
            case RegionPolicy.FactRecorded():
                # The fact's kind, item and payload, as its value class declares them.
                value = event.value()
                cur.execute(
                    "INSERT INTO policy_facts (position, region_code, kind, item, effective_date, recorded_at,"
                    " payload, actor, document_ref, event_type, originator_id, originator_version)"
                    " SELECT %s, region_code, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM policy_regions"
                    " WHERE policy_id = %s",
                    (
                        position,
                        value.kind,
                        value.item(),
                        event.effective_date,
                        utc_text(event.timestamp),
                        json.dumps(value.payload(), sort_keys=True),
                        event.actor,
                        event.document_ref,
                        event_name(event),
                        str(event.originator_id),
                        event.originator_version,
                        str(event.originator_id),
                    ),
                )
