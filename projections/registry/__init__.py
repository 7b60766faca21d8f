"""Read model: registry."""
