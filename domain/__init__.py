"""The pure model of doudi: aggregates, their events, and benefit rules as pure functions.

Modules here import only the standard library, ``eventsourcing.domain`` and python-stdnum
(for the GB 11643 / GB/T 2260 tables); no I/O happens in this package.
"""
