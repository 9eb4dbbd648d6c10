"""MMEW (manual download)."""
