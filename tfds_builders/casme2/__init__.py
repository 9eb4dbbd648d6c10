"""CASME II (manual download)."""
