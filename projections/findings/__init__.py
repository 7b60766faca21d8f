"""Read model: misuse findings (SPEC §8) and the holds death records put on payments."""
