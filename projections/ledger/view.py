"""The fund ledger's view: transactions, entries, closed periods; balances, trial balance, statements.

Invariants are checked twice (STYLE): in Python by ``ledger.journal`` before anything is
recorded, and here by the database on the view's tables — ``CHECK`` on every entry (whole
positive fen on exactly one side), no UPDATE or DELETE of an entry, and on PostgreSQL a
commit-time constraint trigger that every transaction's entries balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ledger.journal import JournalTransaction, LedgerPeriod, LedgerYear
from ledger.statements import BankStatement, StatementChunk
from ledger.store.db import Cursor, Database, chunks, copy_escape
from projections.keyset import after as keyset_after
from projections.keyset import prefix_range, split
from projections.runner import View, aggregate_topic, utc_text

DDL = (
    """CREATE TABLE IF NOT EXISTS ledger_transactions (
        txn_id TEXT PRIMARY KEY, txn_key TEXT NOT NULL, code TEXT NOT NULL, posting_date TEXT NOT NULL,
        recorded_at TEXT NOT NULL, description TEXT NOT NULL, document_ref TEXT NOT NULL, actor TEXT NOT NULL,
        reverses TEXT, reversed_by TEXT, position BIGINT NOT NULL, reversed_position BIGINT)""",
    """CREATE TABLE IF NOT EXISTS ledger_entries (
        txn_id TEXT NOT NULL, line_no INTEGER NOT NULL, account TEXT NOT NULL, kind TEXT NOT NULL,
        region_code TEXT NOT NULL, county_code TEXT NOT NULL, debit_fen BIGINT NOT NULL, credit_fen BIGINT NOT NULL,
        source TEXT NOT NULL, posting_date TEXT NOT NULL, position BIGINT NOT NULL,
        debit_total BIGINT NOT NULL, credit_total BIGINT NOT NULL,
        PRIMARY KEY (txn_id, line_no),
        CHECK (debit_fen >= 0 AND credit_fen >= 0),
        CHECK ((debit_fen > 0 AND credit_fen = 0) OR (credit_fen > 0 AND debit_fen = 0)))""",
    # An account's entries in log order: its statement, and its balance at a log position.
    "CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries (account, position, line_no)",
    # Each account's totals, kept by the view as entries arrive (``debit_total`` and
    # ``credit_total`` of an entry are its account's totals after it): a balance is a row read,
    # never a sum over the account's entries.
    """CREATE TABLE IF NOT EXISTS ledger_balances (
        account TEXT PRIMARY KEY, kind TEXT NOT NULL, region_code TEXT NOT NULL,
        debit_fen BIGINT NOT NULL, credit_fen BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ledger_balances_region ON ledger_balances (region_code, account)",
    "CREATE INDEX IF NOT EXISTS ledger_entries_county ON ledger_entries (county_code)",
    """CREATE TABLE IF NOT EXISTS bank_statement_lines (
        statement_id TEXT NOT NULL, line_no INTEGER NOT NULL, county_code TEXT NOT NULL, reference TEXT NOT NULL,
        amount_fen BIGINT NOT NULL, booked_on TEXT NOT NULL, description TEXT NOT NULL, position BIGINT NOT NULL,
        PRIMARY KEY (position, line_no))""",
    # Keyed by integers (the recording event's position, the line's number), not by 36-character
    # text, a much cheaper key to maintain while a million-line statement loads. Matching
    # is a hash join on reference, so no index on reference is kept up.
    "CREATE INDEX IF NOT EXISTS bank_statement_county ON bank_statement_lines (county_code)",
    """CREATE TABLE IF NOT EXISTS bank_statements (
        statement_id TEXT PRIMARY KEY, county_code TEXT NOT NULL, file_sha256 TEXT NOT NULL,
        line_count INTEGER NOT NULL, recorded_at TEXT NOT NULL, actor TEXT NOT NULL, position BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger_carry_overs (
        county_code TEXT NOT NULL, year INTEGER NOT NULL, account TEXT NOT NULL, source TEXT NOT NULL,
        amount_fen BIGINT NOT NULL, recorded_at TEXT NOT NULL, actor TEXT NOT NULL, document_ref TEXT NOT NULL,
        position BIGINT NOT NULL, PRIMARY KEY (county_code, year, account, source))""",
    # Each account's debits and credits per funding source and posting month, kept as entries
    # arrive (those of allocations apart), with its first posting date and last outgoing one:
    # what the reconciliation as known now reads instead of summing the county's entries.
    """CREATE TABLE IF NOT EXISTS ledger_month_totals (
        county_code TEXT NOT NULL, month TEXT NOT NULL, account TEXT NOT NULL, source TEXT NOT NULL,
        kind TEXT NOT NULL, debit_fen BIGINT NOT NULL, credit_fen BIGINT NOT NULL,
        allocated_debit_fen BIGINT NOT NULL, allocated_credit_fen BIGINT NOT NULL,
        first_on TEXT NOT NULL, last_out_on TEXT, PRIMARY KEY (county_code, month, account, source))""",
    """CREATE TABLE IF NOT EXISTS ledger_periods (
        county_code TEXT NOT NULL, month TEXT NOT NULL, closed_at TEXT NOT NULL, closed_by TEXT NOT NULL,
        document_ref TEXT NOT NULL, PRIMARY KEY (county_code, month))""",
)
SQLITE_GUARDS = (
    """CREATE TRIGGER IF NOT EXISTS ledger_entries_no_update BEFORE UPDATE ON ledger_entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are never edited; post a reversal'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledger_entries_no_delete BEFORE DELETE ON ledger_entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are never deleted; post a reversal'); END""",
)
POSTGRES_GUARDS = (
    """CREATE OR REPLACE FUNCTION doudi_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'ledger entries are never edited or deleted; post a reversal'; END $$""",
    """CREATE OR REPLACE FUNCTION doudi_ledger_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE difference BIGINT;
        BEGIN
            SELECT COALESCE(SUM(debit_fen), 0) - COALESCE(SUM(credit_fen), 0) INTO difference
              FROM ledger_entries WHERE txn_id = NEW.txn_id;
            IF difference <> 0 THEN
                RAISE EXCEPTION 'transaction % is unbalanced by % fen', NEW.txn_id, difference;
            END IF;
            IF (SELECT COUNT(*) FROM ledger_entries WHERE txn_id = NEW.txn_id) < 2 THEN
                RAISE EXCEPTION 'transaction % has fewer than two entries', NEW.txn_id;
            END IF;
            RETURN NULL;
        END $$""",
    "DROP TRIGGER IF EXISTS ledger_entries_immutable ON ledger_entries",
    """CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION doudi_ledger_immutable()""",
    "DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entries",
    """CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION doudi_ledger_balanced()""",
)
CARRY_FIELDS = (
    "county_code",
    "year",
    "account",
    "source",
    "amount_fen",
    "recorded_at",
    "actor",
    "document_ref",
    "position",
)
STATEMENT_FIELDS = ("statement_id", "line_no", "county_code", "reference", "amount_fen", "booked_on",
                    "description", "position")  # fmt: skip
TRANSACTION_FIELDS = ("txn_id", "txn_key", "code", "posting_date", "recorded_at", "description", "document_ref",
                      "actor", "reverses", "position")  # fmt: skip
ENTRY_FIELDS = ("txn_id", "line_no", "account", "kind", "region_code", "county_code", "debit_fen", "credit_fen",
                "source", "posting_date", "position", "debit_total", "credit_total")  # fmt: skip


def _statement_rows(position: int, event: Any) -> list[tuple[Any, ...]]:
    ident, first, county = str(event.statement_id), event.first_line, event.county_code
    return [
        (ident, first + index, county, reference, amount, booked, description, position)
        for index, (reference, amount, booked, description) in enumerate(orjson.loads(event.lines_json))
    ]  # fmt: skip


def _statement_text(position: int, event: Any) -> str:
    """A chunk's lines in COPY's text format. Amounts are integers and dates validated ISO text:
    only the reference and description need escaping."""
    ident, first, county = str(event.statement_id), event.first_line, event.county_code
    return "".join([
        f"{ident}\t{first + index}\t{county}\t{copy_escape(reference)}\t{amount}\t{booked}\t{copy_escape(description)}\t{position}\n"
        for index, (reference, amount, booked, description) in enumerate(orjson.loads(event.lines_json))
    ])  # fmt: skip


class LedgerView(View):
    name = "ledger"
    # Bumped whenever what the tables hold changes: the view is then rebuilt from the log.
    version = 9
    tables = ("ledger_transactions", "ledger_entries", "ledger_periods", "bank_statement_lines",
              "bank_statements", "ledger_carry_overs", "ledger_balances", "ledger_month_totals")  # fmt: skip
    topics = (
        aggregate_topic(JournalTransaction),
        aggregate_topic(LedgerPeriod),
        aggregate_topic(BankStatement),
        aggregate_topic(StatementChunk),
        aggregate_topic(LedgerYear),
    )

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement)
        for statement in SQLITE_GUARDS if self.db.is_sqlite else POSTGRES_GUARDS:
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        self.process_batch(cur, [(position, event)])

    def process_batch(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        """Postings are written in bulk; any other event first flushes what came before it."""
        transactions: list[tuple[Any, ...]] = []
        entries: list[tuple[Any, ...]] = []

        chunks: list[tuple[int, Any]] = []

        def flush() -> None:
            cur.insert_many("ledger_transactions", TRANSACTION_FIELDS, transactions)
            cur.insert_many("ledger_entries", ENTRY_FIELDS, _with_totals(cur, entries))
            _count_months(cur, entries, {row[0]: row[2] for row in transactions})
            transactions.clear()
            entries.clear()
            if chunks and cur.sqlite:
                for position, chunk in chunks:
                    cur.insert_many(
                        "bank_statement_lines", STATEMENT_FIELDS, _statement_rows(position, chunk)
                    )
            elif chunks:
                # One COPY for the batch's statement chunks, each chunk's text built while the
                # database is still inserting the one before: Python's work overlaps PostgreSQL's.
                cur.copy_text("bank_statement_lines", STATEMENT_FIELDS,
                              (_statement_text(position, chunk) for position, chunk in chunks))  # fmt: skip
            chunks.clear()

        for position, event in batch:
            if isinstance(event, StatementChunk.Recorded):
                # Lines of a statement not yet complete count nowhere until its header arrives.
                chunks.append((position, event))
                continue
            if isinstance(event, JournalTransaction.Posted):
                txn = str(event.originator_id)
                transactions.append(
                    (
                        txn,
                        event.key,
                        event.code,
                        event.posting_date,
                        utc_text(event.timestamp),
                        event.description,
                        event.document_ref,
                        event.actor,
                        event.reverses,
                        position,
                    )
                )
                entries += [(txn, index, line["account"], *_parts(line["account"]), line["debit_fen"],
                             line["credit_fen"], line["source"], event.posting_date, position)
                            for index, line in enumerate(event.lines)]  # fmt: skip
                continue
            flush()
            self._other(cur, position, event)
        flush()

    def _other(self, cur: Cursor, position: int, event: Any) -> None:
        match event:
            case JournalTransaction.Reversed():
                # The reversal's position: what a read as known before it must not see.
                cur.execute(
                    "UPDATE ledger_transactions SET reversed_by = %s, reversed_position = %s"
                    " WHERE txn_id = %s",
                    (event.reversal_key, position, str(event.originator_id)),
                )
            case BankStatement.Imported():
                cur.execute(
                    "INSERT INTO bank_statements (statement_id, county_code, file_sha256, line_count, recorded_at,"
                    " actor, position) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (str(event.originator_id), event.county_code, event.file_sha256, event.line_count,
                     utc_text(event.timestamp), event.actor, position),
                )  # fmt: skip
            case LedgerYear.CarriedOver():
                cur.insert_many("ledger_carry_overs", CARRY_FIELDS, [
                    (event.county_code, event.year, account, source, fen, utc_text(event.timestamp), event.actor,
                     event.document_ref, position)
                    for account, source, fen in event.balances
                ])  # fmt: skip
            case LedgerPeriod.Closed():
                cur.execute(
                    "INSERT INTO ledger_periods (county_code, month, closed_at, closed_by, document_ref)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (
                        event.county_code,
                        event.month,
                        utc_text(event.timestamp),
                        event.actor,
                        event.document_ref,
                    ),
                )

    # --- queries --------------------------------------------------------------------------

    def balances(
        self,
        scope_prefix: str,
        region: str | None = None,
        until: str | None = None,
        known_at: int | None = None,
    ) -> list[dict[str, Any]]:
        """Balances of the accounts in scope, of the entries posted by ``until`` if given and
        recorded by log position ``known_at`` if given (entries are never changed: a reversal
        is entries of its own, so a position bounds exactly what was known). Now, each is its
        row of ``ledger_balances``; at a position, the totals of the account's last entry
        recorded by then (one index lookup an account). Only by a posting date (a special
        audit's period end) are entries summed: backdated postings make it no prefix of the log."""
        where, params = "TRUE", []
        for prefix in (scope_prefix, region or ""):
            ranged, bounds = prefix_range("b.region_code", prefix)
            where += ranged
            params += bounds
        if until is not None:
            return self._summed(where.replace("b.", ""), params, until, known_at)
        if known_at is None:
            sql = (
                "SELECT account, kind, region_code, debit_fen, credit_fen,"
                f" debit_fen - credit_fen AS balance_fen FROM ledger_balances b WHERE {where}"
                " ORDER BY account"
            )
        else:
            last = (
                "SELECT e.position, e.line_no FROM ledger_entries e WHERE e.account = b.account"
                " AND e.position <= %s ORDER BY e.position DESC, e.line_no DESC LIMIT 1"
            )
            # PostgreSQL looks each account's last entry up laterally; SQLite (no LATERAL)
            # matches it by its key, looked up per account.
            joined = (
                "JOIN ledger_entries t ON t.account = b.account"
                f" AND (t.position, t.line_no) = ({last})"
                if self.db.is_sqlite
                else f"CROSS JOIN LATERAL ({last.replace('e.position, e.line_no', 'e.*', 1)}) t"
            )
            sql = (
                "SELECT b.account, b.kind, b.region_code, t.debit_total AS debit_fen,"
                " t.credit_total AS credit_fen, t.debit_total - t.credit_total AS balance_fen"
                f" FROM ledger_balances b {joined} WHERE {where} ORDER BY b.account"
            )
            params = [known_at, *params]
        with self.db.transaction() as cur:
            rows = cur.execute(sql, params).fetchall()
        for row in rows:
            for column in ("debit_fen", "credit_fen", "balance_fen"):
                row[column] = int(row[column])
        return rows

    def _summed(
        self, where: str, params: list[Any], until: str, known_at: int | None
    ) -> list[dict[str, Any]]:
        where += " AND posting_date <= %s"
        params = [*params, until]
        if known_at is not None:
            where += " AND position <= %s"
            params.append(known_at)
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT account, kind, region_code, CAST(SUM(debit_fen) AS BIGINT) AS debit_fen,"
                " CAST(SUM(credit_fen) AS BIGINT) AS credit_fen,"
                f" CAST(SUM(debit_fen) - SUM(credit_fen) AS BIGINT) AS balance_fen FROM ledger_entries WHERE {where}"
                " GROUP BY account, kind, region_code ORDER BY account",
                params,
            ).fetchall()

    def recorded_after(
        self, position: int, scope_prefix: str, account: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The transactions recorded after log position ``position`` with an entry in scope (of
        ``account`` if given), in log order: what a balance or statement known then lacks."""
        where, params = "e.position > %s AND e.region_code LIKE %s", [position, scope_prefix + "%"]
        if account is not None:
            where += " AND e.account = %s"
            params.append(account)
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT t.position, t.txn_key, t.code, t.posting_date, t.recorded_at, t.document_ref,"
                " t.reverses FROM ledger_transactions t WHERE t.txn_id IN"
                f" (SELECT e.txn_id FROM ledger_entries e WHERE {where}) ORDER BY t.position LIMIT %s",
                [*params, limit],
            ).fetchall()

    def year_end_balances(self, county: str, year: int) -> list[list[Any]]:
        """[account, source, fen] of every non-zero balance of a county's cash accounts — bank
        clearing, pools, township reserves, roll reservations — at the end of ``year``, from
        their month totals."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT account, source, CAST(SUM(debit_fen) - SUM(credit_fen) AS BIGINT) AS fen FROM ledger_month_totals"
                " WHERE county_code = %s AND month <= %s AND kind IN ('clearing', 'pool', 'reserve', 'reserved')"
                " GROUP BY account, source HAVING SUM(debit_fen) - SUM(credit_fen) <> 0 ORDER BY account, source",
                (county, f"{year}-12"),
            ).fetchall()
        return [[row["account"], row["source"], int(row["fen"])] for row in rows]

    def carried_over(self, county: str, year: int) -> list[dict[str, Any]]:
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT account, source, amount_fen, recorded_at, document_ref FROM ledger_carry_overs"
                " WHERE county_code = %s AND year = %s ORDER BY account, source",
                (county, year),
            ).fetchall()

    def last_statement_recorded_by(self, moment: str) -> int:
        """The log position of the last bank statement recorded at or before ``moment``, 0 if
        none (statements are not in the audit trail; a known-at time must count them too)."""
        with self.db.transaction() as cur:
            found = cur.execute(
                "SELECT MAX(position) AS position FROM bank_statements WHERE recorded_at <= %s",
                (moment,),
            ).fetchone()
        return int(found["position"]) if found and found["position"] is not None else 0

    def statement(
        self,
        account: str,
        limit: int,
        after: list[Any] | None = None,
        period: tuple[str, str] | None = None,
        known_at: int | None = None,
    ) -> tuple[list[dict[str, Any]], list[Any] | None]:
        """A page of an account's entries in log order after the key ``after`` (position,
        line), each with the running balance after it, and the key to continue from (None: no
        more); with an audit ``period``, only the entries posted in it (their balances still
        count every entry before them); with ``known_at``, only the entries recorded by that log
        position. The balance is the entry's own (``debit_total`` − ``credit_total``)."""
        first, last = period if period is not None else ("0000-00-00", "9999-99-99")
        known = "" if known_at is None else " AND e.position <= %s"
        bound = [] if known_at is None else [known_at]
        following, key = keyset_after(("e.position", "e.line_no"), after)
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT e.position, e.line_no, t.txn_key, t.code, e.posting_date, t.document_ref,"
                " e.debit_fen, e.credit_fen, e.source, e.debit_total - e.credit_total AS balance_fen"
                f" FROM ledger_entries e JOIN ledger_transactions t ON t.txn_id = e.txn_id WHERE e.account = %s{known}"
                f" AND e.posting_date BETWEEN %s AND %s{following} ORDER BY e.position, e.line_no LIMIT %s",
                (account, *bound, first, last, *key, limit + 1),
            ).fetchall()
        rows, next_key = split(rows, limit, ("position", "line_no"))
        for row in rows:
            row["balance_fen"] = int(row["balance_fen"])
            del row["line_no"]
        return rows, next_key


def _with_totals(cur: Cursor, entries: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The entries (in log order) each with its account's debit and credit totals after it,
    counted on from ``ledger_balances``, which is brought up to the batch's end."""
    if not entries:
        return []
    accounts = sorted({entry[2] for entry in entries})
    totals: dict[str, list[int]] = {}
    for chunk in chunks(accounts):
        marks = ", ".join(["%s"] * len(chunk))
        for row in cur.execute(
            f"SELECT account, debit_fen, credit_fen FROM ledger_balances WHERE account IN ({marks})",
            chunk,
        ).fetchall():
            totals[row["account"]] = [int(row["debit_fen"]), int(row["credit_fen"])]
    shown: dict[str, tuple[str, str]] = {}
    counted = []
    for entry in entries:
        account, kind, region = entry[2], entry[3], entry[4]
        total = totals.setdefault(account, [0, 0])
        total[0] += entry[6]
        total[1] += entry[7]
        shown[account] = (kind, region)
        counted.append((*entry, total[0], total[1]))
    cur.executemany(
        "INSERT INTO ledger_balances (account, kind, region_code, debit_fen, credit_fen)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account) DO UPDATE"
        " SET debit_fen = excluded.debit_fen, credit_fen = excluded.credit_fen",
        [(account, *shown[account], *totals[account]) for account in sorted(shown)],
    )
    return counted


def _count_months(cur: Cursor, entries: list[tuple[Any, ...]], codes: dict[str, str]) -> None:
    """Add the entries to their accounts' month totals (``ledger_month_totals``); ``codes``:
    each entry's transaction's code."""
    sums: dict[tuple[str, str, str, str], list[Any]] = {}
    if not entries:
        return
    for entry in entries:
        txn, account, kind, county, debit, credit, source, posting_date = (
            entry[0], *entry[2:4], *entry[5:10])  # fmt: skip
        found = sums.setdefault((county, posting_date[:7], account, source),
                                [kind, 0, 0, 0, 0, posting_date, None])  # fmt: skip
        allocated = codes[txn] == "allocate"
        found[1:5] = [found[1] + debit, found[2] + credit, found[3] + debit * allocated,
                      found[4] + credit * allocated]  # fmt: skip
        found[5] = min(found[5], posting_date)
        if credit and (found[6] is None or posting_date > found[6]):
            found[6] = posting_date
    t = "ledger_month_totals"
    summed = ("debit_fen", "credit_fen", "allocated_debit_fen", "allocated_credit_fen")
    cur.executemany(
        f"INSERT INTO {t} (county_code, month, account, source, kind, {', '.join(summed)}, first_on,"
        " last_out_on) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (county_code,"
        f" month, account, source) DO UPDATE SET {', '.join(f'{c} = {t}.{c} + excluded.{c}' for c in summed)},"
        f" first_on = CASE WHEN excluded.first_on < {t}.first_on THEN excluded.first_on ELSE {t}.first_on END,"
        f" last_out_on = CASE WHEN {t}.last_out_on IS NULL OR excluded.last_out_on > {t}.last_out_on"
        f" THEN excluded.last_out_on ELSE {t}.last_out_on END",
        [(*key, *values) for key, values in sorted(sums.items())],
    )  # fmt: skip


def _parts(account: str) -> tuple[str, str, str]:
    kind, region, _qualifier = account.split(":")
    return kind, region, region[:6]
