"""Pure parts of ingest: image checks, archive checks, splits, metadata. No ORM here."""
