"""`glidein demo`: the whole system on one machine (layout, processes, progress, summary, clean-up)."""
