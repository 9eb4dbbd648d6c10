"""SAMM Long Videos (manual download)."""
