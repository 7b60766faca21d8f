"""Read models rebuilt from the event log alone: one package per view."""
