"""Queries to a collector that demands authentication, run by the bindings in a worker process.

Only `htcondor2` authenticates (IDTOKENS, SSL, ...), and it reads a whole answer into memory and
parses it with a recursive C++ parser before returning: an answer of ten million ads, or one ad
holding a 300,000-term expression (SIGSEGV), would take the daemon with it. So the bindings run
in a worker process (`python -m glidein.common.secured_query`) that this module starts and keeps
for later queries, and every answer is bounded:

- count: the worker refuses an answer of more than `max_ads` ads (one clear error);
- size: the worker's address space is capped (`max_memory`, RLIMIT_AS: the bindings' own
  buffers and ads), and this side reads at most `max_bytes` of the ads' text;
- time: the answer must be complete within the query timeout plus `start_grace` (a worker
  starting on a loaded machine imports the bindings first);
- a crash (signal, memory cap) costs the worker, never the caller: the query fails with one
  line naming the signal and the next query starts a new worker.

The ads come back as new-syntax text (what the bindings print: lossless, quoted attribute names
such as a schedd's `'DIAG_CCS...@...'` included), which the bus bounds with the limits it applies
to answers it reads itself before classad2 parses it. The worker inherits the environment and
this process's security settings (SEC_*, set through `htcondor2.param`); when those change, the
next query starts a new worker.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import BinaryIO

import htcondor2

FRAME = struct.Struct(">cI")  # kind, length; kinds: A ad text, S ad skipped, E end, X error
MAX_ANSWER_BYTES = 256 << 20  # the ads' text in one answer, as cedar.MAX_MESSAGE for a wire query
MAX_WORKER_MEMORY = 4 << 30  # the worker's address space (RLIMIT_AS)
START_GRACE_S = 15.0
Item = tuple[bytes, bytes]  # (b"A", an ad in new syntax) or (b"S", why the worker skipped one)
_FORWARDED = ("SEC_",)  # settings of this process the worker must share (how to authenticate)


class SecuredQueryError(RuntimeError):
    """The query through the worker failed (timed out, too big, refused, worker died)."""


class _Refused(SecuredQueryError):
    """The worker answered with an error (the bindings' or too many ads): it can be kept."""


@dataclass(frozen=True)
class Bounds:
    timeout: float
    max_ads: int
    max_bytes: int = MAX_ANSWER_BYTES
    max_memory: int = MAX_WORKER_MEMORY
    start_grace: float = START_GRACE_S


@dataclass(frozen=True)
class Request:
    address: str
    ad_type: int
    constraint: str
    projection: list[str]


def _settings() -> dict[str, str]:
    """This process's security settings, as environment for the worker (`_CONDOR_NAME`)."""
    return {
        f"_CONDOR_{name}": str(value)
        for name, value in htcondor2.param.items()
        if name.upper().startswith(_FORWARDED)
    }


class Worker:
    """The worker process (started on first use, again after it failed or settings changed)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_with: tuple[dict[str, str], int] | None = None
        self.lock = threading.Lock()

    def query(self, request: Request, bounds: Bounds) -> list[Item]:
        """(kind, data) per ad: (b"A", wire text) or (b"S", why it was skipped)."""
        with self.lock:
            proc = self._ready(bounds)
            try:
                return self._ask(proc, request, bounds)
            except _Refused:
                raise
            except BaseException:
                self.stop()  # mid-answer: what it still sends would be read as the next answer
                raise

    def _ready(self, bounds: Bounds) -> subprocess.Popen[bytes]:
        settings = (_settings(), bounds.max_memory)
        if self.proc is not None and (self.proc.poll() is not None or self.started_with != settings):
            self.stop()
        if self.proc is None:
            python = sys.executable or os.readlink("/proc/self/exe")
            argv = [python, "-m", "glidein.common.secured_query", str(bounds.max_memory)]
            env = dict(os.environ, **settings[0])
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
            )
            self.started_with = settings
        return self.proc

    def stop(self) -> None:
        """End the worker (this process started it: by its own handle)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()

    def _ask(
        self, proc: subprocess.Popen[bytes], request: Request, bounds: Bounds
    ) -> list[tuple[bytes, bytes]]:
        assert proc.stdin is not None and proc.stdout is not None
        line = json.dumps({**asdict(request), "timeout": bounds.timeout, "max_ads": bounds.max_ads})
        try:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            raise SecuredQueryError(f"query worker gone: {exc}") from None
        reader = _Reader(proc, time.monotonic() + bounds.timeout + bounds.start_grace, bounds.max_bytes)
        items: list[Item] = []
        while True:
            kind, data = reader.frame()
            if kind == b"E":
                return items
            if kind == b"X":
                raise _Refused(data.decode("utf-8", "replace"))
            items.append((kind, data))


class _Reader:
    """Frames from the worker's stdout, within a deadline and a byte budget."""

    def __init__(self, proc: subprocess.Popen[bytes], deadline: float, budget: int) -> None:
        assert proc.stdout is not None
        self.proc, self.fd, self.deadline, self.budget = proc, proc.stdout.fileno(), deadline, budget
        self.buf = bytearray()

    def _fill(self, need: int) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while len(self.buf) < need:
                left = self.deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise SecuredQueryError("no complete answer within the query timeout")
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    raise SecuredQueryError(f"query worker ended: {_ending(self.proc)}")
                self.buf += chunk

    def frame(self) -> tuple[bytes, bytes]:
        self._fill(FRAME.size)
        kind, length = FRAME.unpack_from(self.buf)
        if length > self.budget:
            raise SecuredQueryError(f"answer larger than {self.budget} bytes")
        self.budget -= length
        self._fill(FRAME.size + length)
        data = bytes(self.buf[FRAME.size : FRAME.size + length])
        del self.buf[: FRAME.size + length]
        return kind, data


def _ending(proc: subprocess.Popen[bytes]) -> str:
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return "closed its output"
    if code < 0:
        return f"killed by signal {-code} (a crash or its memory cap)"
    return f"exit status {code}"


_WORKER = Worker()


def query(request: Request, bounds: Bounds) -> list[Item]:
    """Run one query through this process's worker; SecuredQueryError says why it failed."""
    return _WORKER.query(request, bounds)


# ---------------------------------------------------------------- the worker side


def _write(out: BinaryIO, kind: bytes, data: bytes) -> None:
    out.write(FRAME.pack(kind, len(data)) + data)


def _answer(line: bytes) -> None:
    """Run one request; frames on stdout."""
    out = sys.stdout.buffer
    request = json.loads(line)
    htcondor2.param["QUERY_TIMEOUT"] = str(max(1, int(request["timeout"])))
    try:
        ads = htcondor2.Collector(request["address"]).query(
            htcondor2.AdType(request["ad_type"]), request["constraint"], request["projection"]
        )
    except (htcondor2.HTCondorException, RuntimeError, ValueError) as exc:
        _write(out, b"X", str(exc).encode())
        return
    if len(ads) > request["max_ads"]:
        _write(out, b"X", f"answer holds more than {request['max_ads']} ads".encode())
        return
    for ad in ads:
        try:
            _write(out, b"A", str(ad).encode("utf-8", "surrogateescape"))  # new syntax: lossless
        except (UnicodeError, ValueError) as exc:
            _write(out, b"S", str(exc).encode())
    _write(out, b"E", b"")


def main() -> None:
    """The worker: one JSON request per line on stdin, framed answers on stdout."""
    memory = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for line in sys.stdin.buffer:
        _answer(line)
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
