"""CAS(ME)^3 part A (manual download)."""
