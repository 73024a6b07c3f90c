"""`glidein closeness`: the job side of network closeness (docs/CLOSENESS.md).

`submit-lines` resolves datasets through a catalogue and prints the submit-file lines of the
idiom (the job's SEs, its best bandwidth to them, Requirements and Rank); `transform` prints an
HTCondor schedd JOB_TRANSFORM that resolves a job's `+GLIDEIN_Datasets` through the catalogue at
submission; `show` prints the attributes each source of a bandwidth matrix publishes, the way the
factory reads it.
"""

from __future__ import annotations

import argparse

from glidein.cli.common import Subparsers, add_command
from glidein.common.closeness import (
    load_catalogue,
    load_matrix,
    resolve,
    se_attr,
    submit_lines,
    transform_text,
)


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("closeness", help="network closeness: job submit lines, matrix check")
    group = parser.add_subparsers(dest="closeness_command", metavar="SUBCOMMAND", required=True)
    lines = add_command(group, "submit-lines", _submit_lines, "submit lines for jobs reading DATA")
    lines.add_argument("data", nargs="+", metavar="DATA", help="datasets (of --catalogue) or SE names")
    lines.add_argument("--catalogue", help="YAML/JSON file: dataset -> list of SEs")
    lines.add_argument("--min-mbps", type=float, default=50.0, help="least bandwidth required (MB/s)")
    transform = add_command(group, "transform", _transform, "a schedd JOB_TRANSFORM for GLIDEIN_Datasets")
    transform.add_argument("--catalogue", required=True, help="YAML/JSON file: dataset -> list of SEs")
    transform.add_argument("--name", default="GlideinData", help="the transform's name (default GlideinData)")
    show = add_command(group, "show", _show, "the GLIDEIN_BW_* attributes each source of a matrix publishes")
    show.add_argument("matrix", help="matrix file or http(s):// URL")


def _submit_lines(args: argparse.Namespace) -> int:
    catalogue = load_catalogue(args.catalogue) if args.catalogue else {}
    for line in submit_lines(resolve(catalogue, args.data), args.min_mbps):
        print(line)
    return 0


def _transform(args: argparse.Namespace) -> int:
    text = transform_text(load_catalogue(args.catalogue), args.name, args.catalogue)
    print(f"# glidein closeness transform --catalogue {args.catalogue}: for the schedd's condor_config")
    print(text, end="")
    return 0


def _show(args: argparse.Namespace) -> int:
    matrix = load_matrix(args.matrix)
    for source, row in sorted(matrix.rows.items()):
        attrs = " ".join(f"{se_attr(se)}={mbps:g}" for se, mbps in sorted(row.items()))
        print(f"{source}: {attrs}")
    return 0
