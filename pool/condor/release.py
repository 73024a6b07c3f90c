"""Find an HTCondor release the way a user has it installed.

In order: a release directory given explicitly (an option), `GLIDEIN_HTCONDOR_RELEASE`, the
directory of `condor_master` on PATH (`<release>/sbin/condor_master`), and the copy `make`
unpacks into the virtual environment (`<venv>/htcondor`, from ../shared/htcondor/ for tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from glidein.common.errors import ConfigError

ENV_VAR = "GLIDEIN_HTCONDOR_RELEASE"
REQUIRED = ("sbin/condor_master", "sbin/condor_collector", "bin/condor_status")


@dataclass(frozen=True)
class Release:
    """An HTCondor release directory (bin/, sbin/, lib/, libexec/)."""

    root: Path

    def sbin(self, name: str) -> Path:
        return self.root / "sbin" / name

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def program(self, name: str) -> Path:
        """A tool from bin/ or, failing that, sbin/ (condor_advertise, condor_off, ... live there)."""
        found = self.bin(name)
        return found if found.exists() else self.sbin(name)

    def version(self) -> str:
        """`$CondorVersion: 25.13.2 ... $` -> "25.13.2" (empty when the tool does not answer)."""
        try:
            out = subprocess.run(
                [str(self.bin("condor_version"))], capture_output=True, text=True, timeout=20, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""
        words = out.split()
        return words[1] if len(words) > 1 and words[0] == "$CondorVersion:" else ""


def missing_parts(root: Path) -> list[str]:
    return [part for part in REQUIRED if not os.access(root / part, os.X_OK)]


def check_release(root: Path, where: str) -> Release:
    """`root` as a Release; ConfigError naming `where` and the missing programs otherwise."""
    missing = missing_parts(root)
    if missing:
        raise ConfigError(f"{where}: {root} is not an HTCondor release (no {', '.join(missing)})")
    return Release(root.resolve())


def venv_release() -> Path:
    return Path(sys.prefix) / "htcondor"


def candidates(explicit: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    """(where it came from, release dir) in the order they are tried."""
    found: list[tuple[str, Path]] = []
    if explicit:
        found.append(("--htcondor", Path(explicit)))
    if os.environ.get(ENV_VAR):
        found.append((ENV_VAR, Path(os.environ[ENV_VAR])))
    master = shutil.which("condor_master")
    if master:
        found.append(("condor_master on PATH", Path(master).resolve().parent.parent))
    found.append(("the virtual environment", venv_release()))
    return found


def find_release(explicit: str | os.PathLike[str] | None = None) -> Release:
    """The first release found; an explicit or environment choice must be a release (no fall-back)."""
    tried = []
    for where, root in candidates(explicit):
        if where in ("--htcondor", ENV_VAR):
            return check_release(root, where)
        if not missing_parts(root):
            return Release(root.resolve())
        tried.append(f"{where} ({root})")
    raise ConfigError(
        "no HTCondor release found: give its directory (--htcondor DIR or "
        f"{ENV_VAR}), or put condor_master on PATH; tried {', '.join(tried)}"
    )
