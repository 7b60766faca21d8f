"""The sealed Merkle tree over the event log (``SealView``)."""
