"""CAS(ME)^2 long videos (manual download)."""
