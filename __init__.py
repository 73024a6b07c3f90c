"""glidein: a pilot-based workload management system in the style of glideinWMS."""

__version__ = "0.1.0"
