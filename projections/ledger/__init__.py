"""Read model: the fund ledger (transactions, entries, periods)."""
