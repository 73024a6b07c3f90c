"""`glidein demo`: run the whole system on this machine until N jobs are done (see demo/run.py).

glidein demo [--jobs N] [--keep] [--dir DIR] [--timeout S] [--slurm auto|yes|no] [--htcondor [RELEASE]]
glidein demo --stop DIR       # stop a demo left running with --keep
"""

from __future__ import annotations

import argparse
from pathlib import Path

from glidein.cli.common import Subparsers, add_command


def register(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "demo", _demo, "run collectors, schedd, factory, frontend and N jobs")
    parser.add_argument("--jobs", type=int, default=200, help="jobs to submit (default 200)")
    parser.add_argument("--keep", action="store_true", help="leave every process running at the end")
    parser.add_argument("--dir", type=Path, help="demo directory (default: a new temporary directory)")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds the jobs may take (default 900)"
    )
    parser.add_argument(
        "--slurm",
        choices=("auto", "yes", "no"),
        default="auto",
        help="add a Slurm entry: auto (default) = the Slurm $SLURM_CONF names if it answers, else a "
        "private one-node cluster if root with slurm-wlm and munge, else none; yes = fail without one",
    )
    parser.add_argument(
        "--htcondor",
        nargs="?",
        const="",
        default=None,
        metavar="RELEASE_DIR",
        help="run on real HTCondor daemons (release: RELEASE_DIR, $GLIDEIN_HTCONDOR_RELEASE, "
        "condor_master on PATH, or the one `make` unpacked)",
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between progress lines")
    parser.add_argument("--stop", type=Path, metavar="DIR", help="stop the demo left running in DIR (--keep)")


def _demo(args: argparse.Namespace) -> int:
    from glidein.demo.run import DemoOptions, run_demo
    from glidein.demo.stop import stop_kept

    if args.stop:
        return stop_kept(args.stop.resolve())
    opts = DemoOptions(
        jobs=args.jobs,
        keep=args.keep,
        directory=args.dir,
        timeout=args.timeout,
        slurm=args.slurm,
        interval=args.interval,
        htcondor=args.htcondor,
    )
    return run_demo(opts)
