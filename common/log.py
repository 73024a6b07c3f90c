"""Logging set up once per process: one line per event, the daemon's entity in each line."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(entity)s %(name)s: %(message)s"


class _EntityFilter(logging.Filter):
    def __init__(self, entity: str) -> None:
        super().__init__()
        self.entity = entity

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "entity"):
            record.entity = self.entity
        return True


def setup_logging(entity: str, *, debug: bool = False, stream: object = None) -> None:
    """Configure the root logger for a process; `entity` (e.g. `factory=f1`) prefixes each line.

    Tracebacks are logged only at DEBUG level: use `log_exception` for expected failures.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(_EntityFilter(entity))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)


def log_exception(logger: logging.Logger, message: str, exc: BaseException) -> None:
    """Log one line with the error; the traceback only when DEBUG is on."""
    logger.error("%s: %s", message, exc)
    logger.debug("traceback for: %s", message, exc_info=exc)
