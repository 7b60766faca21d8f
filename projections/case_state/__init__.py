"""Read model: case state."""
