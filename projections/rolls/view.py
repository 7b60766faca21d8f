"""Payment rolls: headers and the lines of each roll's current generation."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from domain.dates import add_months
from domain.lines import table_rows
from domain.roll import LINES_PER_CHUNK, PaymentRoll, RollChunk, chunk_id
from ledger.store.db import Cursor, Database, chunks
from projections.keyset import prefix_range, split
from projections.runner import View, aggregate_topic, utc_text

DDL = (
    """CREATE TABLE IF NOT EXISTS rolls (
        roll_id TEXT PRIMARY KEY, county_code TEXT NOT NULL, month TEXT NOT NULL, grp TEXT NOT NULL,
        status TEXT NOT NULL, generation INTEGER NOT NULL, token TEXT, gen BIGINT, as_of TEXT,
        line_count INTEGER NOT NULL,
        persons INTEGER NOT NULL, total_fen BIGINT NOT NULL, totals TEXT NOT NULL, generated_at TEXT,
        approved_at TEXT, approved_by TEXT, version INTEGER NOT NULL, opened_position BIGINT,
        approved_position BIGINT, sent_position BIGINT, settled_position BIGINT)""",
    "CREATE INDEX IF NOT EXISTS rolls_county ON rolls (county_code, month)",
    # The order of the roll list (``search``): latest month first.
    "CREATE INDEX IF NOT EXISTS rolls_list ON rolls (month DESC, county_code, grp, roll_id)",
    # A line belongs to its generation by ``gen`` (``generation_key``); which roll and token a
    # generation is, ``roll_generations`` says.
    # A line gets one bank result, never another (``PaymentRoll.import_bank_results``):
    # ``bank_position``, the log position it was recorded at, is all a reconciliation as known
    # at an earlier position needs to leave it out. Likewise the header's ``*_position``
    # columns say when the roll was opened, approved, sent and settled.
    # What queries select, sum or match on; a line's names, masked numbers and components are
    # read from its chunk event (``lines``). ``months`` is NULL for a line that pays only its
    # roll's own month, its total (nearly every line): ``line_months`` reads it so.
    """CREATE TABLE IF NOT EXISTS roll_lines (
        gen BIGINT NOT NULL, line_no INTEGER NOT NULL, case_id TEXT NOT NULL, programme TEXT NOT NULL,
        region_code TEXT NOT NULL, covered_members INTEGER NOT NULL, total_fen BIGINT NOT NULL,
        receivable_fen BIGINT NOT NULL, months TEXT, bank_status TEXT, bank_reason TEXT,
        bank_position BIGINT, PRIMARY KEY (gen, line_no))""",
    """CREATE TABLE IF NOT EXISTS roll_generations (
        gen BIGINT PRIMARY KEY, roll_id TEXT NOT NULL, token TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS roll_generations_roll ON roll_generations (roll_id)",
    # The chunks whose lines the generator wrote ahead (``write_ahead``): the catch-up passes
    # over their events without decoding them.
    """CREATE TABLE IF NOT EXISTS roll_chunks_ahead (
        chunk_id TEXT PRIMARY KEY, roll_id TEXT NOT NULL, token TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS paid_months (
        case_id TEXT NOT NULL, month TEXT NOT NULL, roll_id TEXT NOT NULL, amount_fen BIGINT NOT NULL,
        as_of TEXT NOT NULL, PRIMARY KEY (case_id, month, roll_id){paid_include})""",
    # The statistics' totals per county × programme × month of the counted (approved) rolls,
    # restated at each approval that changes them and valid from its position to the next
    # restatement's: households and persons of the lines paying the month itself, the amount of
    # every line, and how many of those households the month before's rolls paid too.
    """CREATE TABLE IF NOT EXISTS roll_statistics (
        county_code TEXT NOT NULL, month TEXT NOT NULL, programme TEXT NOT NULL,
        valid_from BIGINT NOT NULL, valid_to BIGINT, households INTEGER NOT NULL,
        persons INTEGER NOT NULL, amount_fen BIGINT NOT NULL, continuing INTEGER NOT NULL,
        PRIMARY KEY (county_code, month, programme, valid_from))""",
    # A province's or city's months: a month range first, the counties in it within.
    "CREATE INDEX IF NOT EXISTS roll_statistics_month ON roll_statistics (month, county_code)",
    # What one roll paid, as the findings view copies it on the roll's approval.
    "CREATE INDEX IF NOT EXISTS paid_months_roll ON paid_months (roll_id)",
)
STATISTICS_FIELDS = ("households", "persons", "amount_fen", "continuing")
# The roll's case stream probes each case's paid months for one whose ``as_of`` is older than
# what was learned since (``CaseStateView.county_case_pages``): on PostgreSQL the key's entries
# carry ``as_of`` and the amount, so a million probes read the index alone, not a heap page
# each. SQLite has no INCLUDE.
PAID_INCLUDE = " INCLUDE (as_of, amount_fen)"
LINE_FIELDS = (
    "gen", "line_no", "case_id", "programme", "region_code", "covered_members", "total_fen",
    "receivable_fen", "months",
)  # fmt: skip
ROLL_COLUMNS = (
    "roll_id, county_code, month, grp AS group_name, status, generation, as_of, line_count, persons,"
    " total_fen, totals, generated_at, approved_at, approved_by, version"
)


# Decoded chunks a process keeps for reading pages of lines (1,000 lines each).
CHUNKS_KEPT = 8


class RollsView(View):
    name = "rolls"
    # Bumped whenever what the tables hold changes: the view is then rebuilt from the log.
    version = 12
    tables = ("rolls", "roll_lines", "roll_generations", "roll_chunks_ahead", "paid_months",
              "roll_statistics")  # fmt: skip
    # Also lists generations whose chunks never reached the log (a failed save): not rebuilt.
    working_tables = ("roll_chunks_ahead", "roll_generations")
    topics = (aggregate_topic(PaymentRoll), aggregate_topic(RollChunk))
    raw = True  # takes notifications: a chunk written ahead is passed over undecoded
    unread_topics = (aggregate_topic(RollChunk),)  # ... and its state is not even read

    def __init__(
        self,
        db: Database,
        decode: Callable[[Any], Any],
        chunk_lines: Callable[[str, str, int], list[dict[str, Any]]],
        states: Callable[[Sequence[Any]], list[Any]],
    ) -> None:
        """``chunk_lines(roll id, token, number)``: the lines of a chunk as its event recorded
        them (``Services.roll_chunk_lines``); ``states(notifications)``: the notifications
        with the states of those that came unread (``LogReader.states``)."""
        self.db = db
        self.decode = decode
        # A chunk's stored event never changes (a roll generated again has new chunk ids), so a
        # process keeps the last few it decoded: the pages of a chunk's 1,000 lines read it once.
        self.chunk_lines = functools.lru_cache(maxsize=CHUNKS_KEPT)(chunk_lines)
        self.states = states

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement.replace("{paid_include}", "" if cur.sqlite else PAID_INCLUDE))

    def process(self, cur: Cursor, position: int, notification: Any) -> None:
        self.process_batch(cur, [(position, notification)])

    def process_batch(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        """Apply notifications in log order. A chunk's lines are written from its event unless
        the generator wrote them ahead: then its event, ~165 KB stored for 1,000 lines, is
        neither read (it comes ``Unread``) nor decoded. Written ahead is asked of the database,
        again after each header, which may have taken another generation's lines out."""
        lines: list[tuple[Any, ...]] = []
        generations: set[tuple[int, str, str]] = set()
        chunk_topic = aggregate_topic(RollChunk)
        chunk_ids = [str(n.originator_id) for _p, n in batch if n.topic.startswith(chunk_topic)]
        ahead: set[str] | None = None
        notifications = [notification for _position, notification in batch]
        for index, (position, _notification) in enumerate(batch):
            notification = notifications[index]
            if notification.topic.startswith(chunk_topic):
                if ahead is None:
                    ahead = self._ahead(cur, chunk_ids)
                    self._read_states(notifications, index, ahead, chunk_topic)
                    notification = notifications[index]
                if str(notification.originator_id) in ahead:
                    continue
                event = self.decode(notification)
                roll, token = str(event.roll_id), str(event.token)
                gen = generation_key(token)
                generations.add((gen, roll, token))
                lines += table_rows(gen, event.number * LINES_PER_CHUNK, event.fields, event.lines)
                continue
            # Header events see every line recorded before them in the log.
            self._insert(cur, generations, lines)
            generations, lines = set(), []
            self._header(cur, self.decode(notification), position)
            ahead = None
        self._insert(cur, generations, lines)

    @staticmethod
    def _insert(
        cur: Cursor, generations: set[tuple[int, str, str]], lines: list[tuple[Any, ...]]
    ) -> None:
        """Lines, and the generations they belong to (listed once each)."""
        if generations:
            cur.executemany(
                "INSERT INTO roll_generations (gen, roll_id, token) VALUES (%s, %s, %s)"
                " ON CONFLICT (gen) DO NOTHING",
                sorted(generations),
            )
        cur.insert_many("roll_lines", LINE_FIELDS, lines)

    def write_ahead(
        self, roll_id: str, token: str, chunk_ids: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """Write a generation's lines before its chunk events are saved (the generator calls
        this, then saves the chunks): each generating process loads its own lines, in parallel,
        instead of one catch-up decoding every county's chunks again behind one tracking row.

        Exactly once still holds: these are the rows the chunk events map to
        (``domain.lines.table_rows``, ``LINE_FIELDS`` in order), and
        the chunks are marked in the same transaction; the catch-up passes over a marked chunk,
        or writes it if its mark is gone (a header that deleted other tokens' lines and marks
        in between, a rebuild). Lines of a token that no header names — a generation that
        failed before its header — are never read (every query joins on the header's generation key)
        and go with the roll's next ``Generated``.

        On SQLite too: the case stream reads through a connection of its own
        (``Database.stream``), so the snapshot it holds is not the one these lines are written
        through."""
        with self.db.transaction(write=True) as cur:
            if not cur.sqlite:
                # Not waiting for the server to flush these lines to disk is safe: the chunk
                # events are saved next with a flushed commit, which flushes this one before it
                # (one write-ahead log, in order). A crash before that loses both, as it should.
                cur.execute("SET LOCAL synchronous_commit = off")
            self._insert(cur, {(generation_key(token), roll_id, token)}, rows)
            cur.insert_many(
                "roll_chunks_ahead", ("chunk_id", "roll_id", "token"),
                [(chunk, roll_id, token) for chunk in chunk_ids],
            )  # fmt: skip

    def withdraw(
        self, roll_id: str, token: str, chunk_ids: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """Take out lines written ahead whose chunk events were never recorded, and their marks."""
        if not rows:
            return
        numbers = [row[1] for row in rows]
        with self.db.transaction(write=True) as cur:
            cur.execute(
                "DELETE FROM roll_lines WHERE gen = %s AND line_no BETWEEN %s AND %s",
                (generation_key(token), min(numbers), max(numbers)),
            )
            for part in chunks(list(chunk_ids)):
                marks = ", ".join(["%s"] * len(part))
                cur.execute(f"DELETE FROM roll_chunks_ahead WHERE chunk_id IN ({marks})", part)

    def _read_states(
        self, notifications: list[Any], start: int, ahead: set[str], chunk_topic: str
    ) -> None:
        """Read at once, in place, the states of the chunks from ``start`` to the next header
        that were not written ahead: those whose lines are written from their events."""
        end = start
        while end < len(notifications) and notifications[end].topic.startswith(chunk_topic):
            end += 1
        wanted = [i for i in range(start, end) if str(notifications[i].originator_id) not in ahead]
        for i, notification in zip(
            wanted, self.states([notifications[i] for i in wanted]), strict=True
        ):
            notifications[i] = notification

    @staticmethod
    def _ahead(cur: Cursor, chunk_ids: list[str]) -> set[str]:
        """Which of these chunks were written ahead."""
        found: set[str] = set()
        for part in chunks(chunk_ids):
            marks = ", ".join(["%s"] * len(part))
            rows = cur.execute(
                f"SELECT chunk_id FROM roll_chunks_ahead WHERE chunk_id IN ({marks})", part
            ).fetchall()
            found.update(row["chunk_id"] for row in rows)
        return found

    def _header(self, cur: Cursor, event: Any, position: int) -> None:
        roll = str(event.originator_id)
        match event:
            case PaymentRoll.Opened():
                cur.execute(
                    "INSERT INTO rolls (roll_id, county_code, month, grp, status, generation, line_count, persons,"
                    " total_fen, totals, version, opened_position)"
                    " VALUES (%s, %s, %s, %s, 'draft', 0, 0, 0, 0, '{}', 1, %s)",
                    (roll, event.county_code, event.month, event.group, position),
                )
            case PaymentRoll.Generated():
                token = str(event.totals.get("token"))
                gen = generation_key(token)
                cur.execute(
                    "UPDATE rolls SET generation = %s, token = %s, gen = %s, as_of = %s, line_count = %s,"
                    " persons = %s, total_fen = %s, totals = %s, generated_at = %s, version = %s WHERE roll_id = %s",
                    (
                        event.generation,
                        token,
                        gen,
                        event.as_of,
                        event.line_count,
                        event.totals.get("persons", 0),
                        event.total_fen,
                        json.dumps(event.totals, ensure_ascii=False, sort_keys=True),
                        utc_text(event.timestamp),
                        event.originator_version,
                        roll,
                    ),
                )
                _drop_other_generations(cur, roll, gen, token)
            case PaymentRoll.Sent() | PaymentRoll.BankResultsImported() | PaymentRoll.Settled():
                self._bank(cur, event, roll, position)
            case PaymentRoll.Approved():
                cur.execute(
                    "UPDATE rolls SET status = 'approved', approved_at = %s, approved_by = %s, version = %s,"
                    " approved_position = %s WHERE roll_id = %s",
                    (
                        utc_text(event.timestamp),
                        event.actor,
                        event.originator_version,
                        position,
                        roll,
                    ),
                )
                # An approved roll is never generated again: lines a failed attempt wrote
                # ahead since its last generation (a process killed before saving its chunks)
                # would otherwise stay, hidden, for good.
                found = cur.execute(
                    "SELECT gen, token FROM rolls WHERE roll_id = %s", (roll,)
                ).fetchone()
                if found is not None and found["gen"] is not None:
                    _drop_other_generations(cur, roll, found["gen"], found["token"])
                # An approved roll's amounts count as paid for their months (what later rolls
                # compare with to find back-pay and recoveries). Failed bank lines will be
                # released from here when bank results are imported.
                months, month, amount = line_months(cur.sqlite)
                cur.execute(
                    "INSERT INTO paid_months (case_id, month, roll_id, amount_fen, as_of)"
                    f" SELECT l.case_id, {month}, r.roll_id, SUM({amount}), r.as_of FROM rolls r"
                    f" JOIN roll_lines l ON l.gen = r.gen, {months}"
                    f" WHERE r.roll_id = %s GROUP BY l.case_id, {month}, r.roll_id, r.as_of",
                    (roll,),
                )
                # A line the roll held (a death record, 次月停发) counts as paid nothing for its
                # month, known since ever (as-of ''): once the hold is lifted, the next roll's
                # adjustments pay the month back; while it holds, its line is held whole.
                _record_held(cur, roll)
                _restate_statistics(cur, roll, position)

    def _bank(self, cur: Cursor, event: Any, roll: str, position: int) -> None:
        match event:
            case PaymentRoll.Sent():
                cur.execute(
                    "UPDATE rolls SET status = 'sent', version = %s, sent_position = %s WHERE roll_id = %s",
                    (event.originator_version, position, roll),
                )
            case PaymentRoll.BankResultsImported():
                found = cur.execute(
                    "SELECT gen, month FROM rolls WHERE roll_id = %s", (roll,)
                ).fetchone()
                gen, roll_month = (found["gen"], found["month"]) if found else (None, None)
                cur.executemany(
                    "UPDATE roll_lines SET bank_status = %s, bank_reason = %s, bank_position = %s"
                    " WHERE gen = %s AND line_no = %s",
                    [
                        (status, reason or None, position, gen, line_no)
                        for line_no, status, reason in event.results
                    ],
                )
                failed = [
                    line_no for line_no, status, _reason in event.results if status == "failed"
                ]
                months, month, amount = line_months(cur.sqlite)
                for part in chunks(failed):
                    marks = ", ".join(["%s"] * len(part))
                    # A failed payment is not paid: take it out of the paid months, so the next
                    # roll re-issues it as back-pay (unless the case stopped being due).
                    cur.execute(
                        "INSERT INTO paid_months (case_id, month, roll_id, amount_fen, as_of)"
                        f" SELECT l.case_id, {month}, %s, -SUM({amount}), '' FROM (SELECT %s AS month) r,"
                        f" roll_lines l, {months} WHERE l.gen = %s AND l.line_no IN ({marks})"
                        f" GROUP BY l.case_id, {month}",
                        [f"{roll}:failed:{event.originator_version}", roll_month, gen, *part],
                    )
                cur.execute(
                    "UPDATE rolls SET version = %s WHERE roll_id = %s",
                    (event.originator_version, roll),
                )
            case PaymentRoll.Settled():
                cur.execute(
                    "UPDATE rolls SET status = 'settled', version = %s, settled_position = %s"
                    " WHERE roll_id = %s",
                    (event.originator_version, position, roll),
                )

    # --- queries --------------------------------------------------------------------------

    def chunk_ids(self, roll_id: str) -> list[str]:
        """The ids of the chunk events of the roll's current generation (its lines' source)."""
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT token, line_count FROM rolls WHERE roll_id = %s", (roll_id,)
            ).fetchone()
        if row is None or not row["token"]:
            return []
        count = -(-int(row["line_count"]) // LINES_PER_CHUNK)
        return [str(chunk_id(UUID(roll_id), UUID(row["token"]), n)) for n in range(count)]

    def get(self, roll_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as cur:
            row = cur.execute(
                f"SELECT {ROLL_COLUMNS} FROM rolls WHERE roll_id = %s", (roll_id,)
            ).fetchone()
        return None if row is None else _decoded(row)

    def search(
        self,
        *,
        scope_prefix: str,
        county: str | None,
        month: str | None,
        limit: int,
        after: list[Any] | None = None,
        period: tuple[str, str] | None = None,
    ) -> tuple[list[dict[str, Any]], list[Any] | None]:
        """A page of the rolls in scope, latest month first, then by county, group and id,
        after the key ``after`` (month, county, group, id), and the key to continue from (None:
        no more); with an audit ``period`` (first day, last day), those of its months."""
        where, params = ["TRUE"], []
        if period is not None:
            where.append("month BETWEEN %s AND %s")
            params += [period[0][:7], period[1][:7]]
        for column, value in (("county_code", county), ("month", month)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        clause = " AND ".join(where)
        ranged, bounds = prefix_range("county_code", scope_prefix)
        clause += ranged
        params += bounds
        if after is not None:  # the month descends, the rest ascends
            clause += (
                " AND (month < %s OR (month = %s AND (county_code, grp, roll_id) > (%s, %s, %s)))"
            )
            params += [after[0], *after]
        with self.db.transaction() as cur:
            rows = cur.execute(
                f"SELECT {ROLL_COLUMNS} FROM rolls WHERE {clause}"
                " ORDER BY month DESC, county_code, grp, roll_id LIMIT %s",
                [*params, limit + 1],
            ).fetchall()
        page, last = split(rows, limit, ("month", "county_code", "group_name", "roll_id"))
        return [_decoded(row) for row in page], last

    def first_line_of(self, roll_id: str, case_ids: list[str]) -> dict[str, Any] | None:
        """The first line of the roll's current draft or approved generation paying one of
        ``case_ids`` (line_no, case_id), if any."""
        marks = ", ".join(["%s"] * len(case_ids))
        with self.db.transaction() as cur:
            row: dict[str, Any] | None = cur.execute(
                "SELECT l.line_no, l.case_id FROM rolls r JOIN roll_lines l ON l.gen = r.gen"
                f" WHERE r.roll_id = %s AND l.case_id IN ({marks}) ORDER BY l.line_no LIMIT 1",
                [roll_id, *case_ids],
            ).fetchone()
        return row

    def lines(
        self, roll_id: str, *, limit: int, after: int | None = None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of the current generation's lines after line number ``after``, in line order
        (the lines' primary key), and the line number to continue from (None: no more). What
        queries never select on — names, masked numbers, components (~450 bytes of a line's
        ~600) — is read from the chunk events the page's lines were recorded in, not kept a
        second time in the view, which would cost every roll's generation to write; a page of up
        to 500 lines reads 1–2 chunks."""
        with self.db.transaction(snapshot=True) as cur:
            # The generation first, then its lines as a range of their key: a join would leave
            # the planner not knowing which generation, and it would hash every roll's lines.
            roll = cur.execute(
                "SELECT gen, token FROM rolls WHERE roll_id = %s", (roll_id,)
            ).fetchone()
            if roll is None:
                return [], None
            rows = cur.execute(
                "SELECT line_no, case_id, programme, region_code, covered_members, total_fen,"
                " receivable_fen, bank_status, bank_reason FROM roll_lines"
                " WHERE gen = %s AND line_no > %s ORDER BY line_no LIMIT %s",
                (roll["gen"], -1 if after is None else after, limit + 1),
            ).fetchall()
        rows, last = split(rows, limit, ("line_no",))
        recorded: dict[int, dict[str, Any]] = {}
        for number in sorted({row["line_no"] // LINES_PER_CHUNK for row in rows}):
            for line in self.chunk_lines(roll_id, roll["token"], number):
                recorded[line["line_no"]] = line
        page = []
        for row in rows:
            line = recorded[row["line_no"]]
            page.append({
                "line_no": row["line_no"], "case_id": row["case_id"], "kind": line["kind"],
                "programme": row["programme"], "region_code": row["region_code"],
                "head_name": line["head_name"], "head_id_masked": line["head_id_masked"],
                "payee_name": line["payee_name"], "account_masked": line["account_masked"],
                "covered_members": row["covered_members"], "total_fen": row["total_fen"],
                "receivable_fen": row["receivable_fen"], "bank_status": row["bank_status"],
                "bank_reason": row["bank_reason"], "components": line["components"],
            })  # fmt: skip
        return page, None if last is None else int(last[0])

    def all_lines(self, roll_id: str, page: int = 2_000) -> Iterator[dict[str, Any]]:
        """Every line of the current generation, in line order, a page at a time."""
        after: int | None = None
        while True:
            lines, after = self.lines(roll_id, limit=page, after=after)
            yield from lines
            if after is None:
                return


def _record_held(cur: Cursor, roll: str) -> None:
    found = cur.execute("SELECT month, totals FROM rolls WHERE roll_id = %s", (roll,)).fetchone()
    if found is None:
        return
    held = json.loads(found["totals"]).get("held") or []
    cur.executemany(
        "INSERT INTO paid_months (case_id, month, roll_id, amount_fen, as_of) VALUES"
        " (%s, %s, %s, 0, '')",
        [(line["case_id"], found["month"], roll) for line in held],
    )


def _drop_other_generations(cur: Cursor, roll: str, gen: int, token: str) -> None:
    """Every generation of the roll but ``gen`` goes: its lines (each generation by its key,
    along the lines' index), its registration and its written-ahead marks."""
    others = cur.execute(
        "SELECT gen FROM roll_generations WHERE roll_id = %s AND gen <> %s", (roll, gen)
    ).fetchall()
    for other in others:
        cur.execute("DELETE FROM roll_lines WHERE gen = %s", (other["gen"],))
    cur.execute("DELETE FROM roll_generations WHERE roll_id = %s AND gen <> %s", (roll, gen))
    cur.execute("DELETE FROM roll_chunks_ahead WHERE roll_id = %s AND token <> %s", (roll, token))


def line_months(sqlite: bool) -> tuple[str, str, str]:
    """The months a roll line (alias ``l``) pays or recovers, one row each, in SQL: a FROM item
    to join and its month and amount expressions (JSON functions differ by dialect). The query
    names the line's roll ``r`` (or its month ``r.month``): a line whose ``months`` is NULL
    pays that month only, its total."""
    if sqlite:
        return (
            "json_each(COALESCE(l.months, json_array(json_object('month', r.month,"
            " 'amount_fen', l.total_fen)))) AS m",
            "json_extract(m.value, '$.month')",
            "json_extract(m.value, '$.amount_fen')",
        )
    return (
        "jsonb_to_recordset(COALESCE(l.months::jsonb, jsonb_build_array(jsonb_build_object('month',"
        " r.month, 'amount_fen', l.total_fen)))) AS m(month TEXT, amount_fen BIGINT)",
        "m.month",
        "m.amount_fen",
    )


def _restate_statistics(cur: Cursor, roll: str, position: int) -> None:
    """Restate, as of an approval at ``position``, the statistics' totals of the roll's county,
    month and programmes, and the month after's (whose households paid the month before
    changed), from every counted roll of those months: only the rows whose totals moved."""
    found = cur.execute(
        "SELECT DISTINCT r.county_code, r.month, l.programme FROM rolls r JOIN roll_lines l"
        " ON l.gen = r.gen WHERE r.roll_id = %s", (roll,),
    ).fetchall()  # fmt: skip
    if not found:
        return
    county, month = found[0]["county_code"], found[0]["month"]
    programmes = [row["programme"] for row in found]
    months, line_month, _amount = line_months(cur.sqlite)
    marks = ", ".join(["%s"] * len(programmes))
    for this in (month, add_months(month, 1)):
        before = add_months(this, -1)
        totals = cur.execute(
            "WITH lines AS (SELECT r.month, l.programme, l.case_id, l.covered_members, l.total_fen,"
            f" EXISTS (SELECT 1 FROM {months} WHERE {line_month} = r.month) AS regular"
            " FROM roll_lines l JOIN rolls r ON r.gen = l.gen WHERE r.county_code = %s"
            " AND r.month IN (%s, %s) AND r.approved_position IS NOT NULL"
            f" AND l.programme IN ({marks})), paid_before AS (SELECT DISTINCT programme, case_id"
            " FROM lines WHERE month = %s AND regular)"
            " SELECT c.programme, COUNT(DISTINCT CASE WHEN c.regular THEN c.case_id END) AS households,"
            " CAST(SUM(CASE WHEN c.regular THEN c.covered_members ELSE 0 END) AS BIGINT) AS persons,"
            " CAST(SUM(c.total_fen) AS BIGINT) AS amount_fen, COUNT(DISTINCT CASE WHEN c.regular"
            " AND p.case_id IS NOT NULL THEN c.case_id END) AS continuing FROM lines c"
            " LEFT JOIN paid_before p ON p.programme = c.programme AND p.case_id = c.case_id"
            " WHERE c.month = %s GROUP BY c.programme",
            (county, before, this, *programmes, before, this),
        ).fetchall()
        for row in totals:
            key = (county, this, row["programme"])
            values = tuple(int(row[name]) for name in STATISTICS_FIELDS)
            current = cur.execute(
                f"SELECT {', '.join(STATISTICS_FIELDS)} FROM roll_statistics WHERE county_code = %s"
                " AND month = %s AND programme = %s AND valid_to IS NULL", key,
            ).fetchone()  # fmt: skip
            if current is not None and tuple(map(int, current.values())) == values:
                continue
            cur.execute(
                "UPDATE roll_statistics SET valid_to = %s WHERE county_code = %s AND month = %s"
                " AND programme = %s AND valid_to IS NULL", (position, *key),
            )  # fmt: skip
            cur.execute(
                "INSERT INTO roll_statistics (county_code, month, programme, valid_from, households,"
                " persons, amount_fen, continuing) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (*key, position, *values),
            )


def generation_key(token: str) -> int:
    """The key of a generation's lines: one integer instead of two 36-character ids, a smaller
    primary key to keep up under a county's COPY.

    A time-ordered token (``new_token``, UUID version 7) gives the milliseconds it was made in,
    42 bits, and then 21 bits of a hash of it: a new generation's keys follow every earlier
    one's, so its lines are added at the right edge of the primary key, where PostgreSQL
    appends without a search and splits pages unevenly, instead of at a random place in an
    index that grows by a million lines a month. Any other token (a UUID version 4, say) gives
    63 bits and a sign of its hash. Two tokens
    with one key would meet on the lines' primary key, line 0 first: a failed generation,
    never a silent mix."""
    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
    try:
        made: UUID | None = UUID(token)
    except ValueError:  # not a UUID at all: hashed, as any token that is not time-ordered
        made = None
    if made is not None and made.version == 7:
        milliseconds = made.int >> 80
        return (milliseconds % (1 << 42)) << 21 | int.from_bytes(digest, "big") % (1 << 21)
    return int.from_bytes(digest, "big", signed=True)


def new_token() -> UUID:
    """A generation's token: a UUID of version 7 (RFC 9562) — the milliseconds since 1970, then
    74 random bits — whose ``generation_key`` orders generations by when they were made."""
    milliseconds = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (
        (milliseconds % (1 << 48)) << 80
        | 0x7 << 76
        | (random >> 62) % (1 << 12) << 64
        | 0b10 << 62
        | random % (1 << 62)
    )
    return UUID(int=value)


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["totals"] = json.loads(row["totals"])
    row.pop("token", None)
    return row


def reference_sql(sqlite: bool) -> str:
    """A roll line's bank reference (``domain.references.bank_reference``) in SQL: the roll's
    prefix, a ``%s`` parameter, then the line's number (alias ``l``) in at least 7 digits."""
    if sqlite:
        return "(%s || printf('%07d', l.line_no))"
    return "(%s || lpad(l.line_no::text, greatest(7, length(l.line_no::text)), '0'))"
