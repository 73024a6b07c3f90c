"""Parts of bench/chaos.py: the run's directory and configs, the daemons kept alive as systemd
would, and the figures counted at the end."""
