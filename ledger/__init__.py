"""Double-entry fund ledger (SPEC §6): accounts, journal transactions, invariants.

Built by the fund-ledger work (allocations, township reserves, two-phase disbursement); the
event store, projections and API conventions it builds on live in domain/, projections/, api/.
"""
