"""Case state view: current case rows, members and the effective-dated timeline per case."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from operator import itemgetter
from typing import Any, Final

import orjson

from domain.household import HouseholdCase, TerminationReason
from domain.programmes import standard_programme
from domain.tekun import TekunPerson
from ledger.store.db import Cursor, Database, chunks
from projections.case_state.projection import (
    CASE_FIELDS,
    HISTORY_FIELDS,
    TIMELINE_FIELDS,
    CaseRows,
    CaseStateProjection,
    details_json,
)
from projections.case_state.settled import PAGE_FIELDS, RollCase, roll_cases, wanting_facts
from projections.keyset import after as keyset_after
from projections.keyset import prefix_range, split
from projections.runner import View, aggregate_topic

DDL = (
    """CREATE TABLE IF NOT EXISTS case_state (
        case_id TEXT PRIMARY KEY, kind TEXT NOT NULL, region_code TEXT NOT NULL, county_code TEXT NOT NULL,
        programme TEXT NOT NULL, status TEXT NOT NULL, status_since TEXT NOT NULL, head_name TEXT NOT NULL,
        head_id_masked TEXT NOT NULL, head_person_key TEXT NOT NULL, applied_on TEXT NOT NULL,
        method TEXT, tier_code TEXT, start_month TEXT, care_level TEXT, payee_account_masked TEXT,
        household_income_fen BIGINT, annual_review_due TEXT, exit_months INTEGER, end_reason TEXT,
        single_person BOOLEAN NOT NULL DEFAULT FALSE, member_count INTEGER NOT NULL DEFAULT 0,
        covered_count INTEGER NOT NULL DEFAULT 0, payee_name TEXT, payee_account_sealed TEXT,
        version INTEGER NOT NULL, recorded_at TEXT NOT NULL, facts BYTEA NOT NULL,
        settled_from TEXT NOT NULL, settled BYTEA, settled_inline BYTEA, payee BYTEA NOT NULL,
        exit_until TEXT)""",
    """CREATE TABLE IF NOT EXISTS case_history (
        case_id TEXT PRIMARY KEY, members BYTEA NOT NULL, timeline BYTEA NOT NULL)""",
    # Every version of a case's listed columns (``CASE_COLUMNS``), each valid from the log
    # position of the event that made it until the next one's (NULL: the current version), as
    # SQL:2011 system-versioned rows: what the lists answer as known at a past position.
    """CREATE TABLE IF NOT EXISTS case_versions (
        case_id TEXT NOT NULL, kind TEXT NOT NULL, region_code TEXT NOT NULL, county_code TEXT NOT NULL,
        programme TEXT NOT NULL, status TEXT NOT NULL, status_since TEXT NOT NULL, head_name TEXT NOT NULL,
        head_id_masked TEXT NOT NULL, applied_on TEXT NOT NULL, method TEXT, tier_code TEXT,
        start_month TEXT, care_level TEXT, payee_account_masked TEXT, household_income_fen BIGINT,
        annual_review_due TEXT, exit_months INTEGER, end_reason TEXT, single_person BOOLEAN NOT NULL,
        member_count INTEGER NOT NULL, covered_count INTEGER NOT NULL, version INTEGER NOT NULL,
        recorded_at TEXT NOT NULL, exit_until TEXT, valid_from BIGINT NOT NULL, valid_to BIGINT,
        PRIMARY KEY (case_id, valid_from))""",
    "CREATE INDEX IF NOT EXISTS case_versions_region ON case_versions (region_code, valid_from)",
    # Every (kind, programme, tier) an approved case of a county has had — for 特困 the dibao
    # standard it is a multiple of, tier '' for none: what a roll's policy check asks for, in a
    # few rows instead of a pass over the county's cases. It only grows (see
    # ``county_programmes``).
    """CREATE TABLE IF NOT EXISTS case_programmes (
        county_code TEXT NOT NULL, kind TEXT NOT NULL, programme TEXT NOT NULL, tier_code TEXT NOT NULL,
        PRIMARY KEY (county_code, kind, programme, tier_code))""",
)
# A county's cases in case-id order. On PostgreSQL its entries also hold what a roll reads of
# each case (``PAGE_FIELDS`` and the settled basis, when small): a county's 77,000 cases are
# then read from ~6,500 adjacent index pages (an index-only scan), not from 77,000 heap pages
# spread over the whole table, as cases of all counties arrive interleaved. SQLite has no
# INCLUDE: there the same columns follow the key in the index itself, which SQLite then reads
# alone ("covering index"). Reading a county from adjacent index pages roughly halves its
# stream, for ~600 bytes a case and its upkeep on every case update.
COUNTY_INDEX = (
    "CREATE INDEX IF NOT EXISTS case_state_county ON case_state (county_code, case_id) INCLUDE ("
    "start_month, kind, region_code, payee, recorded_at, settled_from, settled_inline)"
)
COUNTY_INDEX_SQLITE = (
    "CREATE INDEX IF NOT EXISTS case_state_county_cover ON case_state (county_code, case_id,"
    " start_month, kind, region_code, payee, recorded_at, settled_from, settled_inline)"
)
# The order of a case list: region (so that a scope or a region filter is a range of it), then
# application date, then case id (unique: the keyset cursor's key).
LIST_ORDER = ("region_code", "applied_on", "case_id")
# One index per documented filter of a case list (none, status, programme), each leading with
# the filter's equalities and then serving ``LIST_ORDER``; the known-at list reads versions in
# the same order.
LIST_INDEXES = (
    "CREATE INDEX IF NOT EXISTS case_state_list ON case_state (kind, region_code, applied_on, case_id)",
    "CREATE INDEX IF NOT EXISTS case_state_list_status"
    " ON case_state (kind, status, region_code, applied_on, case_id)",
    "CREATE INDEX IF NOT EXISTS case_state_list_programme"
    " ON case_state (kind, programme, region_code, applied_on, case_id)",
    "CREATE INDEX IF NOT EXISTS case_versions_list"
    " ON case_versions (kind, region_code, applied_on, case_id, valid_from)",
    # Superseded by the indexes above (the planner took it for a region filter, then sorted).
    "DROP INDEX IF EXISTS case_state_region",
)
CASE_COLUMNS = (
    "case_id, kind, region_code, county_code, programme, status, status_since, head_name, head_id_masked,"
    " applied_on, method, tier_code, start_month, care_level, payee_account_masked, household_income_fen,"
    " annual_review_due, exit_months, end_reason, single_person, member_count, covered_count, version, recorded_at,"
    " exit_until"
)

# Whether a case's settled basis holds for a month starting on the first parameter as known at
# the second (``RollCase.holds``): it is in the index (not too large), no fact counts from a
# later date, none was recorded later. Compared by code point, as Python compares the same
# texts (ISO dates and UTC times), whatever the database's collation; read from the county
# index's own columns, one boolean a case instead of two texts compared in Python.
SETTLED_HOLDS = (
    "COALESCE(c.settled_inline IS NOT NULL AND c.settled_from{collate} <= %s"
    " AND c.recorded_at{collate} <= %s, FALSE)"
)

# A row's values in column order, picked in C (a bulk load writes tens of thousands a batch).
_case_row = itemgetter(*CASE_FIELDS)


class CaseStateView(View):
    name = "case_state"
    # Bumped whenever what the tables hold changes: the view is then rebuilt from the log.
    version = 14
    tables = ("case_state", "case_history", "case_programmes", "case_versions")
    topics = (aggregate_topic(HouseholdCase), aggregate_topic(TekunPerson))
    shardable = True  # every row belongs to one case
    raw = True  # folds decoded fields (ledger.store.transcoding.EventFields), not event objects

    def __init__(
        self,
        db: Database,
        person_key: Callable[[str], str],
        seal: Callable[[str], str],
        decode: Callable[[Any], tuple[str, dict[str, Any], str]],
    ) -> None:
        self.db = db
        self.decode = decode
        self.projection = CaseStateProjection(person_key, seal)

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement)
        cur.execute(COUNTY_INDEX_SQLITE if cur.sqlite else COUNTY_INDEX)
        for statement in LIST_INDEXES:
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, notification: Any) -> None:
        self.process_batch(cur, [(position, notification)])

    def process_batch(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        """Load the touched cases, fold the batch in memory, write back in bulk. The batch holds
        notifications (``raw``): each is decoded to its fields here, with no event object."""
        events = [(position, n, str(n.originator_id)) for position, n in batch]
        if not events:
            return
        # Cases whose first event here is their creation have no rows yet: in a bulk load or a
        # rebuild that is nearly every case, and skipping their lookup halves the round trips.
        created = {case_id for _p, n, case_id in events if n.originator_version == 1}
        ids = sorted({case_id for _p, _n, case_id in events} - created)
        rows = CaseRows()
        for chunk in chunks(ids):
            marks = ", ".join(["%s"] * len(chunk))
            found = cur.execute(
                f"SELECT {', '.join(CASE_FIELDS)} FROM case_state WHERE case_id IN ({marks})", chunk
            ).fetchall()
            rows.cases.update({row["case_id"]: row for row in found})
            for row in found:
                rows.load_facts(row["case_id"], row["facts"])
            for row in cur.execute(
                f"SELECT case_id, members, timeline FROM case_history WHERE case_id IN ({marks})",
                chunk,
            ).fetchall():
                rows.load_history(row["case_id"], row["members"], row["timeline"])
            cur.execute(f"DELETE FROM case_state WHERE case_id IN ({marks})", chunk)
            cur.execute(f"DELETE FROM case_history WHERE case_id IN ({marks})", chunk)
        fold, decode = self.projection.fold, self.decode
        versions: dict[str, list[list[Any]]] = {}
        for position, notification, case_id in events:
            name, fields, recorded = decode(notification)
            fold(rows, position, name, fields, case_id, notification.originator_version, recorded)
            versions.setdefault(case_id, []).append(_version(rows, case_id, position))
        self._write_versions(cur, versions, ids)
        history = rows.write_back()
        cur.insert_many("case_state", CASE_FIELDS, list(map(_case_row, rows.cases.values())))
        cur.insert_many("case_history", HISTORY_FIELDS, history)
        paid = sorted({
            (case["county_code"], case["kind"],
             standard_programme(case["kind"], case["programme"], case["region_code"]),
             case["tier_code"] or "")
            for case in rows.cases.values() if case["start_month"] is not None
        })  # fmt: skip
        if paid:
            self._list_programmes(cur, paid)

    @staticmethod
    def _write_versions(
        cur: Cursor, versions: dict[str, list[list[Any]]], known: list[str]
    ) -> None:
        """Add the batch's versions of each case, each valid until the next (the last until
        further notice), and end the current version of the cases known before the batch."""
        if known:
            firsts = {case_id: versions[case_id][0][-2] for case_id in known}
            cur.executemany(
                "UPDATE case_versions SET valid_to = %s WHERE case_id = %s AND valid_to IS NULL",
                [(firsts[case_id], case_id) for case_id in known],
            )
        rows = []
        for made in versions.values():
            for version, following in pairwise(made):
                version[-1] = following[-2]
            rows.extend(made)
        cur.insert_many("case_versions", VERSION_FIELDS, rows)

    @staticmethod
    def _list_programmes(cur: Cursor, paid: list[tuple[str, str, str, str]]) -> None:
        """Add the combinations not listed yet. Nearly always every one is: asking first, with
        no lock, keeps processes rebuilding shards at once from waiting on each other's
        uncommitted inserts of the same rows, which would slow a shared rebuild.
        New ones go in in key order, so two such inserts never wait in a circle."""
        counties = sorted({row[0] for row in paid})
        listed = {
            (row["county_code"], row["kind"], row["programme"], row["tier_code"])
            for row in cur.execute(
                "SELECT county_code, kind, programme, tier_code FROM case_programmes"
                f" WHERE county_code IN ({', '.join(['%s'] * len(counties))})",
                counties,
            ).fetchall()
        }
        new = [row for row in paid if row not in listed]
        if new:
            cur.execute(
                "INSERT INTO case_programmes (county_code, kind, programme, tier_code) VALUES "
                + ", ".join(["(%s, %s, %s, %s)"] * len(new)) + " ON CONFLICT DO NOTHING",
                [value for row in new for value in row],
            )  # fmt: skip

    # --- queries --------------------------------------------------------------------------

    def get(self, case_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as cur:
            row = cur.execute(
                f"SELECT {CASE_COLUMNS} FROM case_state WHERE case_id = %s", (case_id,)
            ).fetchone()
            if row is None:
                return None
            history = cur.execute(
                "SELECT members FROM case_history WHERE case_id = %s", (case_id,)
            ).fetchone()
        return _shown(row, history["members"] if history else None, _today())

    def as_effective_by(
        self, case_id: str, stored: Sequence[Any], day: str
    ) -> dict[str, Any] | None:
        """A case as it stood on ``day``, as known now: its stored events (in version order)
        folded by this view's own code, leaving out those effective after ``day`` — what a
        special auditor whose period ends that day is shown. None if not yet applied for."""
        return self.folded(case_id, [(event.originator_version, event) for event in stored], day)

    def folded(
        self, case_id: str, events: Sequence[tuple[int, Any]], day: str | None = None
    ) -> dict[str, Any] | None:
        """A case as this view's own code folds ``events`` ((log position, stored event) in
        version order; a known-at read passes those recorded up to a position), leaving out
        those effective after ``day`` if given. None if not (yet) applied for."""
        rows = CaseRows()
        for position, event in events:
            name, fields, recorded = self.decode(event)
            if day is not None and fields["effective_date"] > day:
                continue
            if case_id not in rows.cases and event.originator_version != 1:
                return None  # its application is effective after the day
            version = event.originator_version
            self.projection.fold(rows, position, name, fields, case_id, version, recorded)
        if case_id not in rows.cases:
            return None
        ((_id, members, _timeline),) = rows.write_back()
        case = rows.cases[case_id]
        # Without a day, statuses are told as of today, as the live reads tell them.
        row = {column: case[column] for column in CASE_COLUMN_NAMES}
        return _shown(row, members, day or _today())

    def event_summary(self, position: int, event: Any) -> dict[str, Any]:
        """What an auditor needs to find one event of a case: where and when it was recorded,
        what it decided and from when, and its document."""
        name, fields, recorded = self.decode(event)
        return {
            "position": position, "version": event.originator_version, "event_type": name,
            "effective_date": fields["effective_date"], "recorded_at": recorded,
            "document_ref": fields.get("document_ref"),
        }  # fmt: skip

    def search(
        self,
        *,
        scope_prefix: str,
        kind: str | None,
        region_prefix: str | None,
        status: str | None,
        programme: str | None,
        limit: int,
        after: list[Any] | None = None,
        period: tuple[str, str] | None = None,
        known_at: int | None = None,
    ) -> tuple[list[dict[str, Any]], list[Any] | None]:
        """A page of the cases in scope in ``LIST_ORDER`` after the key ``after``, and the key
        to continue from (None: no more). With an audit ``period`` (first day, last day), only
        the cases open at some time in it (``case_in_period``); with ``known_at``, as known at
        that log position (each case's version valid there). The scope and the region filter
        are ranges of ``region_code``, which leads the order: an index of ``LIST_INDEXES``
        serves each filter, and a page reads only its rows."""
        table, clause, params, day = _case_filter(
            scope_prefix, kind, region_prefix, status, programme, period, known_at
        )
        following, key = keyset_after(LIST_ORDER, after)
        with self.db.transaction() as cur:
            rows = cur.execute(
                f"SELECT {CASE_COLUMNS} FROM {table} WHERE {clause}{following}"
                f" ORDER BY {', '.join(LIST_ORDER)} LIMIT %s",
                [*params, *key, limit + 1],
            ).fetchall()
        page, last = split(rows, limit, LIST_ORDER)
        return [_booleans(row, day) for row in page], last

    def count(
        self,
        *,
        scope_prefix: str,
        kind: str | None = None,
        region_prefix: str | None = None,
        status: str | None = None,
        programme: str | None = None,
        period: tuple[str, str] | None = None,
        known_at: int | None = None,
    ) -> int:
        """How many cases ``search`` lists with these filters: a pass over them, for tools and
        checks (the API's lists do not count)."""
        table, clause, params, _day = _case_filter(
            scope_prefix, kind, region_prefix, status, programme, period, known_at
        )
        with self.db.transaction() as cur:
            found = cur.execute(
                f"SELECT COUNT(*) AS n FROM {table} WHERE {clause}", params
            ).fetchone()
        return int(found["n"] if found else 0)

    def timeline(self, case_id: str) -> list[dict[str, Any]]:
        """The case's decisions in effective-date order (recording order within a date)."""
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT timeline FROM case_history WHERE case_id = %s", (case_id,)
            ).fetchone()
        entries = [dict(zip(TIMELINE_FIELDS, entry, strict=True))
                   for entry in (orjson.loads(row["timeline"]) if row else [])]  # fmt: skip
        for entry in entries:
            del entry["position"]
            # The decision's own dates, beside its recorded time (null: taken the day recorded).
            entry["decided_on"] = entry["details"].get("decided_on")
            entry["document_date"] = entry["details"].get("document_date")
            entry["details"] = details_json(entry["details"])
        return sorted(entries, key=itemgetter("effective_date", "version"))

    def county_case_pages(
        self,
        county_code: str,
        month: str,
        known: tuple[str, str, str] | None = None,
        page: int = 2000,
    ) -> Iterator[list[RollCase]]:
        """Every case of a county that may be paid for ``month`` — approved with a start month on
        or before it — with what was paid for it for months up to ``month`` (month → (amount,
        earliest as-of), from the rolls view's ``paid_months``), in case-id order, a page at a
        time. One row per case, streamed: a county of any size is read in bounded memory. A case
        approved to start after ``month`` was never paid for it nor for any month before it, so
        it cannot have a line.

        ``known`` = (the month's first day, the roll's as-of, when the county's policy last
        changed as known then) reads only what the roll will use, with the tests it makes:
        - of the months paid, ``month`` itself and those paid before the case's latest fact or
          the latest policy change was recorded (``ops.services.rolls.adjustments`` passes over the
          others: nothing learned since could change them);
        - the case's facts (~600 bytes) only if its settled basis does not hold for the month as
          known then (a fact counting from a later day, or recorded later) or a paid month is
          listed (adjustments fold the facts). Otherwise ``RollCase.facts`` is not there;
        - a settled basis too large for the county index (``SETTLED_INLINE``) is not read:
          the roll folds that case's facts, as it does for a recent fact. The facts are read
          per page by case id, after the index's own columns (``_complete``): read with the
          row, a large basis could be newer than the row's dates that vouch for it."""
        having = ""
        having_params: tuple[str, ...] = ()
        if known is not None:
            policy_until = known[2]
            having = " HAVING p.month = %s OR MIN(p.as_of) < c.recorded_at OR MIN(p.as_of) < %s"
            having_params = (month, policy_until)
        history = (
            "SELECT json_group_array(json_array(month, amount_fen, as_of)) FROM (SELECT month,"
            " SUM(amount_fen) AS amount_fen, MIN(as_of) AS as_of FROM paid_months p WHERE p.case_id = c.case_id"
            f" AND p.month <= %s GROUP BY month{having})"
            if self.db.is_sqlite else
            "SELECT json_agg(json_build_array(month, amount_fen, as_of))::text FROM (SELECT month,"
            " SUM(amount_fen) AS amount_fen, MIN(as_of) AS as_of FROM paid_months p WHERE p.case_id = c.case_id"
            f" AND p.month <= %s GROUP BY month{having}) h"
        )  # fmt: skip
        history_params: tuple[str, ...] = (month, *having_params)
        if known is not None:
            # A month group passes the HAVING above if and only if one of its rows has the
            # month itself or an as-of before the case's latest fact or policy change (MIN(as_of)
            # < x ⟺ some as_of < x). So one probe of the case's rows decides whether the
            # grouping runs at all: a case never paid, or paid with nothing learned since (an
            # ordinary month: nearly every case), costs the probe alone; grouping every case's rows
            # would cost the server far more.
            history = (
                "CASE WHEN EXISTS (SELECT 1 FROM paid_months q WHERE q.case_id = c.case_id AND q.month <= %s"
                f" AND (q.month = %s OR q.as_of < c.recorded_at OR q.as_of < %s)) THEN ({history}) END"
            )  # fmt: skip
            history_params = (month, month, known[2], *history_params)
        # With ``known``, only what the county index holds (PostgreSQL reads it alone: see
        # ``COUNTY_INDEX``) and whether the settled basis holds, worked out from the same
        # columns; the facts of the cases that need them follow per page by case id.
        extra = ", c.settled, c.facts"
        extra_params: tuple[str, ...] = ()
        if known is not None:
            collate = "" if self.db.is_sqlite else ' COLLATE "C"'
            extra, extra_params = f", {SETTLED_HOLDS.format(collate=collate)}", (known[0], known[1])
        width = len(PAGE_FIELDS)
        for rows in self.db.stream(
            f"SELECT {', '.join('c.' + f for f in PAGE_FIELDS)}, c.settled_inline, ({history}){extra}"
            " FROM case_state c WHERE c.county_code = %s AND c.start_month <= %s ORDER BY c.case_id",
            (*history_params, *extra_params, county_code, month),
            page,
            index_order=True,  # along case_state_county: no sort (see ``Database.stream``)
        ):
            # The row itself as ``case``: ``PAGE_FIELDS`` first, then what the stream adds (no
            # tuple sliced a case).
            if known is None:
                yield [RollCase(row, row[width] or row[-2], row[width + 1], row[-1]) for row in rows]  # fmt: skip
                continue
            cases = roll_cases(rows, width)
            self._complete(cases)
            yield cases

    def _complete(self, cases: list[RollCase]) -> None:
        """Read the facts of the cases the roll folds — whose settled basis does not hold for
        the month as known then, or was too large for the county index — and of those with a
        paid month listed (adjustments fold the facts)."""
        wanted = wanting_facts(cases)
        if not wanted:
            return
        with self.db.transaction() as cur:
            for part in chunks(list(wanted)):
                marks = ", ".join(["%s"] * len(part))
                for row in cur.execute(
                    f"SELECT case_id, facts FROM case_state WHERE case_id IN ({marks})", part
                ).fetchall():
                    wanted[row["case_id"]].blob = row["facts"]

    def county_programmes(self, county_code: str) -> list[tuple[str, str, str | None]]:
        """The (kind, programme, tier) combinations the county's approved cases have had; for 特困
        the programme is the dibao standard it is a multiple of. A combination stays listed after
        the last case leaves it (``programme_in_use`` tells)."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT kind, programme, tier_code FROM case_programmes WHERE county_code = %s"
                " ORDER BY kind, programme, tier_code",
                (county_code,),
            ).fetchall()
        return [(row["kind"], row["programme"], row["tier_code"] or None) for row in rows]

    def programme_in_use(
        self, county_code: str, kind: str, programme: str, tier_code: str | None
    ) -> bool:
        """Whether an approved case of the county has this combination now, its programme the
        one whose standard it is reckoned on (``domain.programmes.standard_programme``; for 特困
        that depends on the case's region, so the county's region codes are asked, not the
        cases). A pass over the county's cases: asked only of a combination the policy does
        not cover."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT DISTINCT programme, region_code FROM case_state WHERE county_code = %s"
                " AND kind = %s AND start_month IS NOT NULL AND COALESCE(tier_code, '') = %s",
                (county_code, kind, tier_code or ""),
            ).fetchall()
        return any(
            standard_programme(kind, row["programme"], row["region_code"]) == programme
            for row in rows
        )

    def roll_fields(self, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What a roll line carries of each case found among ``case_ids``: its kind, programme,
        region, covered count and payee (``domain.lines.PAYEE_FIELDS``, as JSON bytes)."""
        found: dict[str, dict[str, Any]] = {}
        with self.db.transaction() as cur:
            for chunk in chunks(sorted(set(case_ids))):
                marks = ", ".join(["%s"] * len(chunk))
                for row in cur.execute(
                    "SELECT case_id, kind, programme, region_code, covered_count, payee"
                    f" FROM case_state WHERE case_id IN ({marks})",
                    chunk,
                ).fetchall():
                    found[row["case_id"]] = dict(row, payee=bytes(row["payee"]))
        return found

    def region_of(self, case_id: str) -> str | None:
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT region_code FROM case_state WHERE case_id = %s", (case_id,)
            ).fetchone()
        return None if row is None else str(row["region_code"])


# A case has ended once terminated or rejected: from then on, only an audit period that
# reaches back to its open time shows it.
ENDED_STATUSES = ("terminated", "rejected")
ENDED = "(" + ", ".join(f"'{status}'" for status in ENDED_STATUSES) + ")"


def case_in_period(case: dict[str, Any], period: tuple[str, str] | None) -> bool:
    """Whether a case was open at some time in an audit period (first day, last day): applied by
    its last day and not ended before its first."""
    if period is None:
        return True
    ended = case["status"] in ENDED_STATUSES
    return bool(
        case["applied_on"] <= period[1] and not (ended and case["status_since"] < period[0])
    )


def _exit_over(row: dict[str, Any], day: str) -> None:
    """A case whose gradual exit is over on ``day`` has left the programme without another
    decision (渐退帮扶期结束后…按规定退出): shown terminated from the exit's end, with reason
    ``gradual_exit_ended``."""
    until = row.pop("exit_until")
    if row["status"] == "gradual_exit" and until is not None and until <= day:
        row["status"], row["status_since"] = "terminated", until
        row["end_reason"] = TerminationReason.GRADUAL_EXIT_ENDED.value


CASE_COLUMN_NAMES: Final = tuple(name.strip() for name in CASE_COLUMNS.split(","))
VERSION_FIELDS: Final = (*CASE_COLUMN_NAMES, "valid_from", "valid_to")
_COUNTED = frozenset(("member_count", "covered_count"))


def _version(rows: CaseRows, case_id: str, position: int) -> list[Any]:
    """A case's listed columns right after the event at ``position`` (member counts as its
    members then stand: the batch's own counts are taken only at its end), valid from there."""
    case = rows.cases[case_id]
    members = rows.members.get(case_id, {}).values()
    counts = {"member_count": len(members),
              "covered_count": sum([1 for member in members if member["covered"]])}  # fmt: skip
    listed = [counts[name] if name in _COUNTED else case[name] for name in CASE_COLUMN_NAMES]
    return [*listed, position, None]


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _shown(row: dict[str, Any], members: bytes | None, day: str) -> dict[str, Any]:
    """A case row as reads answer it on ``day``, with its members (from the history row's JSON)."""
    people = orjson.loads(members) if members else []
    row["members"] = [
        {"name": name, "id_masked": masked, "relation": relation, "covered": covered}
        for _key, name, masked, relation, covered in sorted(people, key=itemgetter(2))
    ]
    return _booleans(row, day)


def _booleans(row: dict[str, Any], day: str) -> dict[str, Any]:
    _exit_over(row, day)
    row["single_person"] = bool(row["single_person"])
    for member in row.get("members", []):
        member["covered"] = bool(member["covered"])
    return row


def _case_filter(
    scope_prefix: str,
    kind: str | None,
    region_prefix: str | None,
    status: str | None,
    programme: str | None,
    period: tuple[str, str] | None,
    known_at: int | None,
) -> tuple[str, str, list[Any], str]:
    """The table, WHERE clause and parameters of a case list, and the day its statuses are
    told at (gradual exits over by then count as terminated)."""
    table, where, params = "case_state", ["TRUE"], []
    if known_at is not None:
        table = "case_versions"
        where.append("valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)")
        params += [known_at, known_at]
    if period is not None:
        where.append(f"applied_on <= %s AND NOT (status IN {ENDED} AND status_since < %s)")
        params += [period[1], period[0]]
    day = _today() if period is None else period[1]
    if status in ("terminated", "gradual_exit"):
        # A gradual exit whose months are over has left the programme (``_exit_over``).
        ended = "(status = 'gradual_exit' AND exit_until <= %s)"
        where.append(f"(status = 'terminated' OR {ended})" if status == "terminated"
                     else f"status = 'gradual_exit' AND NOT {ended}")  # fmt: skip
        params.append(day)
        status = None
    for column, value in (("kind", kind), ("status", status), ("programme", programme)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    clause = " AND ".join(where)
    for prefix in (scope_prefix, region_prefix or ""):
        ranged, bounds = prefix_range("region_code", prefix)
        clause += ranged
        params += bounds
    return table, clause, params, day
