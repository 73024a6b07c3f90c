"""Packaging glue: the repository root is the package `glidein` (see setup.cfg)."""

from setuptools import find_packages, setup

SUBPACKAGES = find_packages(".", exclude=["tests", "tests.*", "bench", "bench.*", "build*", "*.egg-info"])

setup(packages=["glidein"] + [f"glidein.{name}" for name in SUBPACKAGES])
