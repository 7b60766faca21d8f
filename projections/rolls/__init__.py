"""Read model: payment rolls and their lines."""
