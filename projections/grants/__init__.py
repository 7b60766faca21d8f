"""Read model: temporary assistance grants."""
