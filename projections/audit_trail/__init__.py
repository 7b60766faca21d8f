"""Read model: audit trail."""
