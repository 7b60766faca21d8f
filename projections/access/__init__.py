"""Read model: access."""
