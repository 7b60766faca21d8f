"""Read model: policy book."""
