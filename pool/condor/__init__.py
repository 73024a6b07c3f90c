"""Real HTCondor: finding a release, and personal pools (users' pool, WMS collector) on loopback."""
