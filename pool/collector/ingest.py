"""Updates checked in a helper process while the server reads on (issue 17: ingest on 2 cores).

Storing an update costs two halves of about the same size: the Python checks and rewriting
(`ads.prepare`: the CEDAR ad, the bounds of `limits.check_ad`, leaks, identity, lifetime) and
classad2 building the ClassAd (`ads.finish`), which must happen in the process that evaluates
queries. The server hands every whole one-packet update it reads to a helper process
(`python -m glidein.pool.collector.ingest`) in batches, one per read, and keeps reading; the
helper sends back the prepared updates (or why each was refused) in the same order, and the
server parses and stores them. Every check still runs, in the helper.

What a client sees does not change:
- order: batches go to one helper and come back in order, so ads are stored in the order they
  were read, whatever the connection;
- visibility: every other command (queries, invalidations, acknowledged updates) first waits
  until the batches read before it are stored (`settled`), so a query that follows an update
  finds it;
- bounds: at most MAX_BACKLOG bytes are with the helper; a connection that reads more waits;
- a protocol error in an update (a malformed CEDAR ad) closes its connection with one line, as
  before, once the helper reports it;
- if the helper dies, one error line, and the server checks updates itself from then on,
  starting with the batches the helper had not answered.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import pickle
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from glidein.common.errors import ClassAdError
from glidein.pool import cedar
from glidein.pool.collector.ads import Policy, Prepared, prepare
from glidein.pool.collector.commands import Collector

log = logging.getLogger(__name__)
LENGTH = struct.Struct(">I")
MAX_BACKLOG = 8 << 20  # bytes of updates with the helper before connections wait
Outcome = Prepared | str | tuple[str]  # prepared; why the ad was refused; (CEDAR error,)


@dataclass
class Batch:
    updates: list[tuple[int, bytes]]  # (command, payload)
    peer: str
    on_protocol_error: Callable[[str], None]
    size: int


class IngestHelper:
    """The server's side: hand batches over, store what comes back, in order."""

    def __init__(self, collector: Collector, max_attrs: int) -> None:
        self.collector = collector
        self.max_attrs = max_attrs
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: collections.deque[Batch] = collections.deque()
        self.backlog = 0
        self.sent = self.stored = 0  # batches
        self.progress = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        policy = self.collector.policy
        argv = [str(self.max_attrs), repr(policy.default_lifetime), repr(policy.max_lifetime)]
        python = sys.executable or os.readlink("/proc/self/exe")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                python, "-m", "glidein.pool.collector.ingest", *argv,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20,
            )  # fmt: skip
        except OSError as exc:
            log.error("ingest helper did not start (%s): updates are checked in this process", exc)
            return
        self.reader = asyncio.create_task(self._results())
        log.info("ingest helper pid %d checks updates", self.proc.pid)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()  # our own child, by its handle
            await proc.wait()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        self._take_back()

    def submit(self, batch: Batch) -> None:
        """Hand a batch to the helper (or check it here when there is none)."""
        if self.proc is None or self.proc.stdin is None:
            self._here(batch)
            return
        data = pickle.dumps(batch.updates, pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(LENGTH.pack(len(data)) + data)
        self.pending.append(batch)
        self.backlog += batch.size
        self.sent += 1

    async def settled(self) -> None:
        """Return once every batch handed over before this call is stored."""
        target = self.sent
        while self.stored < target and self.pending:
            await self.progress.wait()

    async def room(self) -> None:
        """Return once the helper holds less than MAX_BACKLOG bytes."""
        while self.backlog >= MAX_BACKLOG and self.pending:
            await self.progress.wait()

    def _here(self, batch: Batch) -> None:
        for command, payload in batch.updates:
            self._store(batch, command, _prepare(command, payload, self.max_attrs, self.collector.policy))

    def _store(self, batch: Batch, command: int, outcome: Outcome) -> None:
        if isinstance(outcome, tuple) and not isinstance(outcome, Prepared):
            batch.on_protocol_error(outcome[0])
        else:
            self.collector.store_prepared(command, outcome, batch.peer)

    def _advance(self) -> None:
        self.progress.set()
        self.progress = asyncio.Event()

    async def _results(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        try:
            while True:
                size = LENGTH.unpack(await stdout.readexactly(LENGTH.size))[0]
                outcomes = pickle.loads(await stdout.readexactly(size))  # noqa: S301 (our own child)
                batch = self.pending.popleft()
                for (command, _), outcome in zip(batch.updates, outcomes, strict=True):
                    try:
                        self._store(batch, command, outcome)
                    except Exception as exc:  # a bug must cost one update, never the server
                        log.error("peer=%s update not stored: internal error %s: %s", batch.peer,
                                  type(exc).__name__, exc)  # fmt: skip
                self.backlog -= batch.size
                self.stored += 1
                self._advance()
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, OSError, pickle.UnpicklingError, ValueError, IndexError) as exc:
            if self.proc is not None:
                log.error("ingest helper ended (%s): updates are checked in this process", exc or "EOF")
                self.proc = None
            self._take_back()

    def _take_back(self) -> None:
        """Check here the batches the helper did not answer, in order."""
        while self.pending:
            batch = self.pending.popleft()
            self._here(batch)
            self.backlog -= batch.size
            self.stored += 1
        self._advance()


def _prepare(command: int, payload: bytes, max_attrs: int, policy: Policy) -> Outcome:
    """One update's outcome: Prepared, the reason it is refused, or (a CEDAR error,)."""
    msg = cedar.Message(payload, max_attrs)
    msg.pos = cedar.INT.size
    try:
        _, blob = msg.get_ad_blob(alone=True)
    except cedar.CedarError as exc:
        return (str(exc),)
    try:
        return prepare(blob, cedar.command_type(command), policy)
    except ClassAdError as exc:
        return str(exc)
    except Exception as exc:  # a bug must cost one update, never the helper or the server
        return f"internal error {type(exc).__name__}: {exc}"


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def main() -> None:
    """The helper: length-prefixed pickled batches on stdin, their outcomes on stdout."""
    max_attrs, policy = int(sys.argv[1]), Policy(float(sys.argv[2]), float(sys.argv[3]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (head := _read_exactly(stdin, LENGTH.size)) is not None:
        data = _read_exactly(stdin, LENGTH.unpack(head)[0])
        if data is None:
            return
        updates = pickle.loads(data)  # noqa: S301 (from the server that started this process)
        outcomes = [_prepare(command, payload, max_attrs, policy) for command, payload in updates]
        out = pickle.dumps(outcomes, pickle.HIGHEST_PROTOCOL)
        stdout.write(LENGTH.pack(len(out)) + out)
        stdout.flush()


if __name__ == "__main__":
    main()
