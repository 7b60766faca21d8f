"""``Database.stream``: a large result in pages, in order, never all at once; a reader that
stops early leaves the database as it found it (PostgreSQL cancels the streamed query)."""

from __future__ import annotations

import pytest

from ops.services.core import Services

ROWS = 4_500


def _probe(services: Services) -> None:
    with services.db.transaction(write=True) as cur:
        cur.execute("CREATE TABLE stream_probe (n INTEGER NOT NULL, label TEXT NOT NULL)")
        cur.insert_many("stream_probe", ("n", "label"), [(n, f"row {n}") for n in range(ROWS)])


def test_pages_come_in_order_and_of_the_size_asked(services: Services) -> None:
    _probe(services)
    pages = list(services.db.stream("SELECT n, label FROM stream_probe ORDER BY n", (), 1000))
    assert [len(page) for page in pages] == [1000, 1000, 1000, 1000, 500]
    assert [row for page in pages for row in page] == [(n, f"row {n}") for n in range(ROWS)]
    # parameters, and a result that fills its last page exactly
    pages = list(services.db.stream("SELECT n FROM stream_probe WHERE n < %s ORDER BY n", (2000,), 1000))  # fmt: skip
    assert [len(page) for page in pages] == [1000, 1000]


def test_a_reader_that_stops_early_leaves_the_database_usable(services: Services) -> None:
    _probe(services)
    for _ in range(3):  # more times than the pool has connections to spare
        pages = services.db.stream("SELECT n FROM stream_probe ORDER BY n", (), 100)
        assert [row[0] for row in next(pages)] == list(range(100))
        pages.close()
    with services.db.transaction(write=True) as cur:
        cur.execute("INSERT INTO stream_probe (n, label) VALUES (%s, %s)", (ROWS, "last"))
    found = [row for page in services.db.stream("SELECT n FROM stream_probe", (), 1000) for row in page]  # fmt: skip
    assert len(found) == ROWS + 1


def test_an_error_in_the_query_reaches_the_reader(services: Services) -> None:
    _probe(services)
    with pytest.raises(Exception, match="no_such_column"):
        list(services.db.stream("SELECT no_such_column FROM stream_probe", (), 100))


def test_an_older_libpq_streams_a_row_at_a_time_and_gives_the_same_pages(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    _probe(services)
    expected = list(services.db.stream("SELECT n, label FROM stream_probe ORDER BY n", (), 1000))
    from psycopg import pq

    asked: list[int] = []
    monkeypatch.setattr(pq, "version", lambda: asked.append(1) or 160000)  # before libpq 17
    assert (
        list(services.db.stream("SELECT n, label FROM stream_probe ORDER BY n", (), 1000))
        == expected
    )
    assert bool(asked) != services.db.is_sqlite  # PostgreSQL asked, and streamed row by row
