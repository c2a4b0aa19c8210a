"""The front doors: bytes in, raw rows out. Never parses into tickets, never imports ingest."""
