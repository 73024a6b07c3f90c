"""The real HTCondor daemons the benches measure glidein against (the anchors of issue 17)."""
