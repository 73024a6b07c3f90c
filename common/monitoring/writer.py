"""Writing one cycle's RRD rows: in the caller (`write_rows`) or in a thread (`BackgroundWriter`).

At global-pool scale a factory cycle records some 55,000 files (5,000 entries x 10 clients);
rrdtool spends about 50 us on each, in C with the GIL released. `BackgroundWriter` takes the
whole cycle's rows in one call and writes them in a thread, so the daemon's cycle goes on (it
advertises, sleeps) while the files are written. One batch is in flight at a time: the next
`submit` (and `flush`) first waits for the previous batch, so rows keep their order and work
never piles up; a cycle that comes before the writes are done waits for them. The files hold
exactly what `write_rows` would write in the caller (tested).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from glidein.common.errors import GlideinError
from glidein.common.log import log_exception
from glidein.common.monitoring.model import Counts
from glidein.common.monitoring.rrd import RRDKey, RRDStore

log = logging.getLogger(__name__)
LOGGED_FAILURES = 5  # files whose failure is logged one by one per batch; the rest are counted


@dataclass(frozen=True)
class BatchDone:
    """What one batch did: rows given, rows written, files that failed, seconds it took."""

    rows: int
    written: int
    failed: int
    seconds: float


def write_rows(store: RRDStore, rows: Sequence[tuple[RRDKey, Counts]], when: float) -> BatchDone:
    """Write every row at time `when`; a failing file is logged (the first few) and skipped."""
    started = time.monotonic()
    written = failed = 0
    for key, counts in rows:
        try:
            written += store.update(key, counts, when)
        except GlideinError as exc:
            failed += 1
            if failed <= LOGGED_FAILURES:
                log_exception(log, f"monitoring: cannot record {key}", exc)
    if failed > LOGGED_FAILURES:
        log.warning("monitoring: %d of %d RRD files not written this cycle", failed, len(rows))
    return BatchDone(len(rows), written, failed, time.monotonic() - started)


class BackgroundWriter:
    """Writes batches of rows into `store` in a thread, one batch at a time."""

    def __init__(self, store: RRDStore) -> None:
        self.store = store
        self.last: BatchDone | None = None  # the last finished batch
        self._thread: threading.Thread | None = None
        self._done: BatchDone | None = None

    def submit(self, rows: Sequence[tuple[RRDKey, Counts]], when: float) -> None:
        """Hand over one cycle's rows (after the previous batch is written) and return at once."""
        self.flush()
        self._thread = threading.Thread(
            target=self._write, args=(list(rows), when), name="rrd-writer", daemon=True
        )
        self._thread.start()

    def flush(self, timeout: float | None = None) -> BatchDone | None:
        """Wait for the batch in flight; the last finished batch (None while one is still writing)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return None
            self._thread = None
        return self.last

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _write(self, rows: list[tuple[RRDKey, Counts]], when: float) -> None:
        try:
            self.last = write_rows(self.store, rows, when)
        except Exception as exc:  # never kill the thread silently: the next batch tries again
            log_exception(log, "monitoring: RRD writer failed this cycle", exc)
