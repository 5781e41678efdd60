"""Upload route, validation and the ingest service."""
