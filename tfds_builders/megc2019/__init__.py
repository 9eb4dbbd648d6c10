"""MEGC 2019 composite of CASME II, SAMM and SMIC-HS (manual download)."""
