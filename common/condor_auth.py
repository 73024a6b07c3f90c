"""How this process's HTCondor client calls authenticate: IDTOKENs from a token directory.

HTCondor's own way (SEC_TOKEN_DIRECTORY): a directory of token files; for each daemon the client
presents the token whose issuer is that daemon's TRUST_DOMAIN, so one directory serves the WMS
collector and the users' pool alike. The bindings read these settings per call, process-wide:
set them once at start-up, before the first call. Without a directory nothing changes (glidein's
own collector needs no authentication).
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import htcondor2

from glidein.common.errors import ConfigError

log = logging.getLogger(__name__)


def check_token_dir(directory: Path, where: str) -> list[Path]:
    """The token files of `directory`; ConfigError naming `where` when it is unsafe or empty."""
    try:
        mode = directory.stat().st_mode
        files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        raise ConfigError(f"{where}: {directory}: cannot read the token directory: {exc.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise ConfigError(f"{where}: {directory}: not a directory")
    if mode & 0o077:
        opened = f"mode {mode & 0o777:o}"
        raise ConfigError(f"{where}: {directory}: token directory open to others ({opened}); chmod 700")
    if not files:
        raise ConfigError(f"{where}: {directory}: no token files")
    for path in files:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{where}: {path}: token readable by others; chmod 600")
    return files


def use_token_dir(directory: Path | None, where: str = "condor_tokens") -> None:
    """Authenticate every later HTCondor call of this process with the IDTOKENs in `directory`."""
    if directory is None:
        return
    files = check_token_dir(directory, where)
    htcondor2.param["SEC_TOKEN_DIRECTORY"] = str(directory)
    htcondor2.param["SEC_CLIENT_AUTHENTICATION_METHODS"] = "IDTOKENS"
    log.info("HTCondor client authenticates with IDTOKENS from %s (%d token files)", directory, len(files))
