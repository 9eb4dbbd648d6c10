"""SMIC-HS (manual download)."""
