"""The verifiable log: a Merkle tree over the event log, signed checkpoints, proofs (SPEC §8)."""
