"""SAMM (manual download)."""
