"""`python -m glidein.cli` runs the `glidein` command (used by tests and by the demo)."""

from glidein.cli.main import main

main()
