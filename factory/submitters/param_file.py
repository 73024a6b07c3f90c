"""A pilot's `-param_file`: what must not be on its command line, where `ps` shows it to everyone.

The wrapper (pilot_wrapper/glidein_startup.py `read_param_file`) reads `NAME=value` lines: the
secret parameters (the pool token, GLIDEIN_Token, and whatever the frontend sealed) and, under
REPORT_TOKEN, the token its reports to the factory carry. Every submitter writes the file 0600
(given to the jobs' account when the factory runs as root and that is another one), puts
`-param_file <path>` on the command line, and deletes the file once the pilot has ended or was
never queued.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from glidein.common.errors import SubmitError

log = logging.getLogger(__name__)
SECRET_PARAMS = ("GLIDEIN_Token",)  # -param_<NAME> values kept off the command line whoever set them
REPORT_TOKEN = "report_token"  # noqa: S105 - the NAME under which the wrapper finds -report_token
SUFFIX = ".params"


def param_file_text(params: Mapping[str, str]) -> str:
    """One `NAME=value` line each; SubmitError for what the wrapper would read otherwise (a name
    that is not an identifier, a value holding a line break)."""
    lines = []
    for name, value in sorted(params.items()):
        text = value.strip()
        if not name.isidentifier() or any(c in text for c in "\r\n\0"):
            raise SubmitError(f"secret parameter {name[:40]!r}: not a NAME=value line; pilot not submitted")
        lines.append(f"{name}={text}\n")
    return "".join(lines)


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """A 0600 file with `text` (0600 even if it existed), given to `owner` (uid, gid) when that is not us."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    if owner is not None:
        os.chown(path, *owner)


def write_param_file(path: Path, params: Mapping[str, str], owner: tuple[int, int] | None = None) -> None:
    """The pilot's parameter file; SubmitError (naming the path) when it cannot be written."""
    text = param_file_text(params)
    try:
        write_private(path, text, owner)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        raise SubmitError(f"cannot write {path}: {exc}") from None


def with_param_file(argv: Sequence[str], path: str) -> list[str]:
    """The command line reading its secrets from `path`."""
    return [*argv, "-param_file", path]


def forget(paths: Sequence[Path]) -> None:
    """Delete parameter files (their tokens) of pilots that ended or were never queued."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # e.g. a read-only directory: the next status pass tries again
            log.warning("cannot delete the parameter file %s: %s", path, exc)
