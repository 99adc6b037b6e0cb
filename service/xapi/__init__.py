"""xAPI statement ingestion: an LRS-shaped door onto the completions path."""
