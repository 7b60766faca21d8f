"""Read model: statistics of assistance paid."""
