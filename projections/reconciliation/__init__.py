"""Read model: fund reconciliation (机账实一致)."""
