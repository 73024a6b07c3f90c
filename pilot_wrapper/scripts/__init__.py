"""Validation and set-up scripts staged for the pilot (stdlib only, Python >= 3.6)."""
