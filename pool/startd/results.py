"""Finished jobs' results, kept until the schedd takes them. Stdlib, Python >= 3.6.

A job that ends while the schedd cannot be reached must not run twice: its exit code and outputs
stay here and are offered again every retry interval until the schedd answers 200 (taken) or 410
(the claim is gone: the job was removed, or its lease ran out and it runs elsewhere anyway).
A result the schedd could not take at once is also saved as <spool>/<claim_id>.json, so that one
left by a startd killed -9 can still be sent (`python -m glidein.pool.startd --flush`).
"""

import contextlib
import json
import logging
import os
import time
from typing import Callable, Dict, List, NamedTuple, Set  # noqa: F401 - Dict, Set in type comments

from glidein.pool.startd.schedd_client import ClaimGone, Refused, Rejected, ScheddClient, ScheddUnavailable

log = logging.getLogger("glidein.startd")
SPOOL_DIR = "results"  # in the startd's work dir


class Result(NamedTuple):
    claim_id: str
    job_id: str
    exit_code: int
    stdout_b64: str
    stderr_b64: str


class Outbox(object):
    """Results not yet taken by the schedd, in the order the jobs ended."""

    def __init__(self, client: ScheddClient, retry_interval: float, spool: str = "") -> None:
        self.client = client
        self.retry_interval = retry_interval
        self.spool = spool
        self.pending = {}  # type: Dict[str, Result]
        self.next_try = 0.0
        self.warned = set()  # type: Set[str]

    def add(self, result: Result, now: float) -> None:
        """Keep `result` and offer it at once, unless the schedd was unreachable a moment ago."""
        self.pending[result.claim_id] = result
        self.flush(now)
        if result.claim_id in self.pending:
            self._save(result)

    def _path(self, claim_id: str) -> str:
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in claim_id)
        return os.path.join(self.spool, safe + ".json")

    def _save(self, result: Result) -> None:
        if not self.spool:
            return
        path = self._path(result.claim_id)
        try:
            os.makedirs(self.spool, exist_ok=True)
            with open(path + ".tmp", "w") as handle:
                json.dump(result._asdict(), handle)
            os.replace(path + ".tmp", path)
        except OSError as exc:  # kept in memory all the same
            log.warning("job=%s: cannot save its result in %s: %s", result.job_id, self.spool, exc)

    def load(self) -> int:
        """Take up the results saved in the spool (by a startd that was killed); how many."""
        names = sorted(os.listdir(self.spool)) if self.spool and os.path.isdir(self.spool) else []
        for name in (n for n in names if n.endswith(".json")):
            try:
                with open(os.path.join(self.spool, name)) as handle:
                    result = Result(**json.load(handle))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("ignoring saved result %s: %s", name, exc)
                continue
            self.pending[result.claim_id] = result
            log.info("job=%s: result saved by an earlier startd, to send", result.job_id)
        return len(self.pending)

    def flush(self, now: float) -> None:
        """Offer the pending results; stop at the first that the schedd cannot take now."""
        if not self.pending or now < self.next_try:
            return
        for result in list(self.pending.values()):
            if not self._offer(result):
                self.next_try = now + self.retry_interval
                return

    def _offer(self, result: Result) -> bool:
        """True when the result is settled (taken, or the schedd will never take it)."""
        try:
            self.client.complete(result.claim_id, result.exit_code, result.stdout_b64, result.stderr_b64)
            log.info("completed job=%s exit_code=%d", result.job_id, result.exit_code)
        except ClaimGone as exc:
            log.warning("job=%s result not taken: claim gone (%s)", result.job_id, exc)
        except Rejected as exc:
            log.error("job=%s result refused by the schedd, dropped: %s", result.job_id, exc)
        except (Refused, ScheddUnavailable) as exc:
            if result.claim_id not in self.warned:
                self.warned.add(result.claim_id)
                log.warning("cannot report job=%s: %s; keeping its result to retry", result.job_id, exc)
            else:
                log.debug("still cannot report job=%s: %s", result.job_id, exc)
            return False
        self._forget(result.claim_id)
        return True

    def _forget(self, claim_id: str) -> None:
        self.pending.pop(claim_id, None)
        self.warned.discard(claim_id)
        if self.spool:
            with contextlib.suppress(OSError):  # never saved: taken at the first offer
                os.remove(self._path(claim_id))

    def drain(
        self,
        grace: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> List[Result]:
        """At the end: retry for at most `grace` seconds; the results dropped, one log line each."""
        deadline = clock() + grace
        timeout = self.client.timeout
        while self.pending and clock() < deadline:
            self.client.timeout = max(1.0, min(timeout, deadline - clock()))
            self.flush(clock())
            if self.pending:
                sleep(max(0.0, min(self.next_try, deadline) - clock()))
        self.client.timeout = timeout
        dropped = list(self.pending.values())
        for result in dropped:
            log.error(
                "job=%s exit_code=%d: the schedd did not take its result within %.0f s, dropped "
                "(it will run again when its lease ends)", result.job_id, result.exit_code, grace,
            )  # fmt: skip
        for result in dropped:
            self._forget(result.claim_id)
        return dropped
