"""The ingest pipeline: bytes in -> committed tickets."""
