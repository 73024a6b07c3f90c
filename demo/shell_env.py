"""`DIR/env.sh`: the environment that points plain commands at a running demo.

Sourced in another shell (`. DIR/env.sh`) while a demo runs (`--keep`), it makes plain
`glidein q`, `glidein submit FILE`, `glidein rm ID` use the demo's schedd (its state dir holds
the schedd's address and the `local.secret` that submit and rm send; the secret itself is not
copied here), `glidein status` ask the demo's user pool ($GLIDEIN_COLLECTOR) and
`glidein status -pool $GLIDEIN_WMS_COLLECTOR` the WMS collector. With `--htcondor` it sets
CONDOR_CONFIG and PATH for the release's condor_q / condor_submit / condor_status instead of
the schedd dir; with a Slurm entry, SLURM_CONF for squeue.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from glidein.demo.layout import DemoLayout
from glidein.pool.condor.release import Release

ENV_FILE = "env.sh"


def demo_env(
    layout: DemoLayout, condor_env: dict[str, str] | None = None, slurm_conf: str | None = None
) -> dict[str, str]:
    """Variable -> value, in the order they are printed. PATH values end with `:$PATH`.
    `condor_env`: what HTCondor's tools need for the users' pool (CONDOR_CONFIG, and as root
    _CONDOR_CONDOR_IDS), with `--htcondor`."""
    env = {"GLIDEIN_DEMO_DIR": str(layout.root)}
    path = [str(Path(sys.executable).parent)] if (Path(sys.executable).parent / "glidein").exists() else []
    if condor_env is None:
        env["GLIDEIN_SCHEDD_DIR"] = str(layout.schedd_state)
    else:
        env.update(condor_env)
        release: Release | None = layout.condor
        if release is not None:
            path = [str(release.root / "bin"), str(release.root / "sbin"), *path]
    env["GLIDEIN_COLLECTOR"] = layout.address("pool")
    env["GLIDEIN_WMS_COLLECTOR"] = layout.address("wms")
    if slurm_conf:
        env["SLURM_CONF"] = slurm_conf
    if path:
        env["PATH"] = ":".join([*path, "$PATH"])
    return env


def export_lines(env: dict[str, str]) -> list[str]:
    """`export NAME=value` lines for a POSIX shell (a trailing `:$PATH` left for it to expand)."""
    lines = []
    for name, value in env.items():
        if value.endswith(":$PATH"):
            lines.append(f'export {name}={shlex.quote(value.removesuffix(":$PATH"))}:"$PATH"')
        else:
            lines.append(f"export {name}={shlex.quote(value)}")
    return lines


def write_env_file(root: Path, env: dict[str, str]) -> Path:
    """Write `root/env.sh` (no secret in it: mode 0644) and return its path."""
    path = root / ENV_FILE
    header = [
        f"# glidein demo in {root}: `. {shlex.quote(str(path))}` in another shell, then plain",
        "# glidein q / submit / rm / status talk to this demo (see docs/DEMO.md).",
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join([*header, *export_lines(env)]) + "\n")
    tmp.chmod(0o644)
    tmp.replace(path)
    return path
