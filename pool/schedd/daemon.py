"""`glidein schedd`: lifecycle only (files, server thread, lease reaper, advertiser, signals).

State directory layout (created 0700):
  queue.sqlite      the job queue (WAL)
  local.secret      0600, the local-user secret the CLI sends as X-Glidein-Secret
  schedd.address    the URL the CLI uses by default
  spool/            stdout/stderr of jobs submitted without output/error
The schedd ad goes to the collector from a child process (`glidein.pool.schedd.advertise`):
the htcondor2 bindings hold the GIL during network calls, which would freeze this server.
"""

from __future__ import annotations

import logging
import os
import platform
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from glidein import __version__
from glidein.common import tokens
from glidein.common.errors import ConfigError
from glidein.pool.schedd.api import ApiContext, ScheddHTTPServer
from glidein.pool.schedd.queue import JobQueue, QueueOptions
from glidein.pool.schedd.relay import Relay, RelayOptions, make_relay

log = logging.getLogger(__name__)


@dataclass
class ScheddOptions:
    state_dir: Path
    pool_key: Path
    host: str = "127.0.0.1"
    port: int = 0
    name: str = "schedd"
    collector: str | None = None
    lease_s: float = 30.0
    advertise_interval: float = 30.0
    relay: RelayOptions | None = None  # relay mode: hands pilots to the entry's submitter (relay.py)


def local_secret(state_dir: Path) -> str:
    """The local-user secret, created (0600) on first use."""
    path = state_dir / "local.secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path.read_text().strip()


def _write_address(state_dir: Path, url: str) -> None:
    tmp = state_dir / "schedd.address.tmp"
    tmp.write_text(url + "\n")
    tmp.replace(state_dir / "schedd.address")


def _reaper(queue: JobQueue, stop: threading.Event, period: float) -> None:
    while not stop.wait(period):
        try:
            queue.reap()
        except Exception as exc:
            log.error("lease reaper failed: %s", exc)


def _start_advertiser(opts: ScheddOptions, url: str) -> subprocess.Popen[bytes] | None:
    if not opts.collector:
        return None
    argv = [
        sys.executable,
        "-m",
        "glidein.pool.schedd.advertise",
        "--url",
        url,
        "--collector",
        opts.collector,
    ]
    argv += ["--interval", str(opts.advertise_interval), "--parent", str(os.getpid())]
    return subprocess.Popen(argv)


def run_schedd(opts: ScheddOptions) -> int:
    if opts.host not in {"127.0.0.1", "localhost", "::1"}:
        log.warning("binding %s: reads are open to anyone who reaches it; startds need tokens", opts.host)
    opts.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = tokens.load_key(opts.pool_key)
    relay = make_relay(opts.relay, opts.state_dir, opts.name) if opts.relay else None
    queue = JobQueue(opts.state_dir, QueueOptions(name=opts.name, lease_s=opts.lease_s))
    spool = opts.state_dir / "spool"
    spool.mkdir(exist_ok=True)
    try:
        ctx = ApiContext(queue, key, local_secret(opts.state_dir), spool, opts.name, "")
        server = ScheddHTTPServer((opts.host, opts.port), ctx)
    except OSError as exc:
        queue.close()
        if relay is not None:
            relay.close()
        raise ConfigError(f"cannot listen on {opts.host}:{opts.port}: {exc.strerror}") from None
    ctx.url = f"http://{opts.host}:{server.server_address[1]}"
    queue.options.address = f"{opts.host}:{server.server_address[1]}"
    ctx.collector = opts.collector or ""
    ctx.relay = relay
    _write_address(opts.state_dir, ctx.url)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = [
        threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True),
        threading.Thread(target=_reaper, args=(queue, stop, min(1.0, opts.lease_s / 4)), daemon=True),
    ]
    if ctx.relay is not None:
        threads.append(threading.Thread(target=ctx.relay.run, args=(stop,), daemon=True))
    for thread in threads:
        thread.start()
    advertiser = _start_advertiser(opts, ctx.url)
    log.info(
        "glidein %s schedd %s (python %s) listening on %s state=%s totals=%s",
        __version__,
        opts.name,
        platform.python_version(),
        ctx.url,
        opts.state_dir,
        queue.totals(),
    )
    while not stop.wait(1.0):
        if advertiser is not None and advertiser.poll() is not None:
            log.warning("advertiser exited with %s; restarting it", advertiser.returncode)
            time.sleep(1.0)
            advertiser = _start_advertiser(opts, ctx.url)
    _shutdown(server, queue, advertiser, ctx.relay)
    return 0


def _shutdown(
    server: ScheddHTTPServer, queue: JobQueue, advertiser: subprocess.Popen[bytes] | None, relay: Relay | None
) -> None:
    server.shutdown()
    if relay is not None:
        relay.close()
    server.server_close()
    if advertiser is not None and advertiser.poll() is None:
        advertiser.terminate()
        try:
            advertiser.wait(10)
        except subprocess.TimeoutExpired:
            advertiser.kill()
    queue.close()
    log.info("schedd stopped")
