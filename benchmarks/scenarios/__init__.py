"""The load scenarios: hot, cold, upload, day (and day --find-max)."""
