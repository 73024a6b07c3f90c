"""The collector's asyncio TCP server: CEDAR messages in, command dispatch, answers out.

Per connection: read a message; its first integer is a command. DC_AUTHENTICATE opens (or
resumes) a session with no authentication, encryption or integrity and names the real command,
whose payload is the next message; any other number is a plain command with its payload in the
same message. Several commands may follow on one connection (HTCondor clients send one ad per
message and end with DC_NOP). Any protocol error closes that connection with one log line.
Updates (UPDATE_* without an acknowledgement) go to the ingest helper process in batches, one per
read (`ingest.py`); every other command first waits until the updates read before it are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import os
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from glidein import __version__
from glidein.common.errors import ClassAdError, ProtocolError
from glidein.pool import cedar
from glidein.pool.collector.ads import MAX_LIFETIME, build_record
from glidein.pool.collector.commands import Collector
from glidein.pool.collector.ingest import Batch, IngestHelper
from glidein.pool.collector.store import AdStore

log = logging.getLogger(__name__)
SESSION_COMMANDS = sorted(set(cedar.COMMANDS.values()))
# Updates taken straight from the read buffer, many per read (no answer is owed for them).
FAST_UPDATES = frozenset(
    number for name, number in cedar.COMMANDS.items() if name.startswith("UPDATE_") and "ACK" not in name
)
_MIN_UPDATE = 2 * cedar.INT.size + 2  # command, attribute count, the two type strings
ANSWER_CHUNK = 256 << 10
WATCHDOG_TICK = 0.25
READ_CHUNK = 256 << 10


class Conn:
    """One client connection and the deadline the watchdog enforces on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.deadline = time.monotonic() + 60.0
        self.timed_out = False
        self.failed = False  # closed for a protocol error already logged
        self.buf = bytearray()  # received bytes; those before `pos` are consumed
        self.pos = 0

    def unread(self) -> int:
        return len(self.buf) - self.pos

    async def fill(self, need: int) -> None:
        """Read until at least `need` unconsumed bytes are buffered (many messages per read)."""
        while self.unread() < need:
            if self.pos:
                del self.buf[: self.pos]
                self.pos = 0
            chunk = await self.reader.read(READ_CHUNK)
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(self.buf), need)
            self.buf += chunk


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 9618
    name: str = ""
    default_lifetime: float = 900.0
    max_lifetime: float = MAX_LIFETIME  # seconds: a longer ClassAdLifetime is cut to this
    max_connections: int = 1000
    max_per_peer: int = 64  # open connections from one address
    max_message: int = 8 << 20  # bytes in one message (so one ad or one query)
    max_attrs: int = 10000  # attributes in one ad
    idle_timeout: float = 300.0  # seconds a connection may wait between commands
    read_timeout: float = 20.0  # seconds to finish a message once it has started
    sweep_interval: float = 1.0  # seconds between expiry sweeps
    self_ad_interval: float = 60.0
    ingest_helper: bool = True  # check updates in a helper process (ingest.py)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class CollectorServer:
    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.store = AdStore()
        self.collector = Collector(self.store, config.default_lifetime, clock, config.max_lifetime)
        self.conns: set[Conn] = set()
        self.sessions = itertools.count(1)
        self.started = clock()
        self.name = config.name or f"glidein-collector@{socket.gethostname()}"
        self.server: asyncio.base_events.Server | None = None
        self.refused = 0
        self.per_host: dict[str, int] = {}  # open connections by peer address
        self.tasks: set[asyncio.Task[None]] = set()
        self.ingest = IngestHelper(self.collector, config.max_attrs)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if not is_loopback(self.config.host):
            log.warning("listening on %s: this collector authenticates nobody", self.config.host)
        self.server = await asyncio.start_server(
            self.handle, self.config.host, self.config.port, limit=1 << 20, backlog=1024
        )
        sock = self.server.sockets[0]
        self.config.port = int(sock.getsockname()[1])
        if self.config.ingest_helper:
            await self.ingest.start()
        self.publish_self_ad()
        log.info(
            "collector %s listening on %s:%d (glidein %s, Python %s, default lifetime %ds, limits: %d"
            " connections, %d per peer, %d bytes, %d attributes)", self.name, self.config.host,
            self.config.port, __version__, platform.python_version(), self.config.default_lifetime,
            self.config.max_connections, self.config.max_per_peer, self.config.max_message,
            self.config.max_attrs,
        )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        watchdog = asyncio.create_task(self.watchdog())
        next_self_ad = self.clock() + self.config.self_ad_interval
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.sweep_interval)
            expired = self.store.expire(self.clock())
            if expired:
                self.collector.stats.expired += expired
                log.info("expired %d ads, %d left", expired, len(self.store))
            if self.clock() >= next_self_ad:
                self.publish_self_ad()
                next_self_ad = self.clock() + self.config.self_ad_interval
        assert self.server is not None
        watchdog.cancel()
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()
        await self.ingest.stop()
        log.info("collector %s stopped", self.name)

    def publish_self_ad(self) -> None:
        stats = self.collector.stats
        values: dict[str, cedar.Literal] = {
            "MyType": "Collector", "Name": self.name, "Machine": socket.gethostname(),
            "MyAddress": f"<{self.config.host}:{self.config.port}>", "CondorVersion": cedar.VERSION,
            "DaemonStartTime": int(self.started), "UpdatesTotal": stats.updates,
            "UpdatesRejected": stats.rejected, "QueriesTotal": stats.queries, "TotalAds": len(self.store),
            "ActiveConnections": len(self.conns), "ClassAdLifetime": int(3 * self.config.self_ad_interval),
        }  # fmt: skip
        blob = "".join(f"{name} = {expr}\0" for name, expr in cedar.make_ad(values)).encode()
        self.store.put(build_record(blob, None, self.clock(), self.config.default_lifetime))

    # ------------------------------------------------------------------ connections

    async def watchdog(self) -> None:
        """Abort connections past their deadline (idle between commands, or stalled in one)."""
        while True:
            await asyncio.sleep(WATCHDOG_TICK)
            now = time.monotonic()
            for conn in list(self.conns):
                if now > conn.deadline and not conn.timed_out:
                    conn.timed_out = True
                    conn.writer.transport.abort()

    def admit(self, conn: Conn, host: str) -> bool:
        """Whether a new connection may be served: under the total and the per-peer limits."""
        if len(self.conns) >= self.config.max_connections:
            why = f"{len(self.conns)} connections open"
        elif self.per_host.get(host, 0) >= self.config.max_per_peer:
            why = f"{self.per_host[host]} connections open from {host}, limit {self.config.max_per_peer}"
        else:
            self.per_host[host] = self.per_host.get(host, 0) + 1
            return True
        self.refused += 1
        if self.refused % 100 == 1:
            log.warning("peer=%s refused: %s (%d refused so far)", conn.peer, why, self.refused)
        return False

    def release(self, host: str) -> None:
        left = self.per_host.pop(host, 1) - 1
        if left > 0:
            self.per_host[host] = left

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        conn = Conn(reader, writer, f"{peername[0]}:{peername[1]}" if peername else "?")
        host = str(peername[0]) if peername else "?"
        if not self.admit(conn, host):
            writer.close()
            return
        self.conns.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await self.serve(conn)
        except asyncio.CancelledError:
            pass  # shutting down
        except (ProtocolError, cedar.CedarError, ClassAdError) as exc:
            log.warning("peer=%s closed: %s", conn.peer, exc)
        except (asyncio.IncompleteReadError, OSError) as exc:
            if conn.failed:
                pass  # logged when it failed
            elif conn.timed_out:
                log.warning("peer=%s closed: timed out", conn.peer)
            elif isinstance(exc, asyncio.IncompleteReadError):
                log.warning("peer=%s closed: connection ended inside a message", conn.peer)
            else:
                log.info("peer=%s closed: %s", conn.peer, exc)
        except Exception as exc:  # a bug must cost one connection, never the server
            log.error("peer=%s closed: internal error %s: %s", conn.peer, type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)
        finally:
            self.conns.discard(conn)
            self.release(host)
            if task is not None:
                self.tasks.discard(task)
            writer.close()

    def buffered_updates(self, conn: Conn) -> None:
        """Hand every whole one-packet update already in the read buffer to the ingest helper in
        one batch, without awaiting.

        HTCondor clients send one ad per message, so a read brings dozens of them; this skips the
        per-message coroutine machinery. Anything else (a partial message, a multi-packet one,
        another command) is left for `read_message`, which also applies every check again."""
        buf, pos, size = conn.buf, conn.pos, len(conn.buf)
        limit = min(cedar.MAX_PACKET, self.config.max_message - cedar.HEADER.size)
        header, payload_at = cedar.HEADER, cedar.HEADER.size
        updates: list[tuple[int, bytes]] = []
        while size - pos > payload_at:
            end, length = header.unpack_from(buf, pos)
            start = pos + payload_at
            if end != 1 or not _MIN_UPDATE <= length <= limit or start + length > size:
                break
            command = cedar.INT.unpack_from(buf, start)[0]
            if command not in FAST_UPDATES:
                break
            updates.append((command, bytes(buf[start : start + length])))
            pos = start + length
        if updates:
            self.ingest.submit(Batch(updates, conn.peer, lambda why: self.fail(conn, why), pos - conn.pos))
            conn.pos = pos

    def fail(self, conn: Conn, why: str) -> None:
        """Close a connection for a protocol error found in one of its updates (one line)."""
        if not conn.failed:
            conn.failed = True
            log.warning("peer=%s closed: %s", conn.peer, why)
            conn.writer.transport.abort()

    async def serve(self, conn: Conn) -> None:
        while True:
            self.buffered_updates(conn)
            await self.ingest.room()
            msg = await self.read_message(conn, first=True)
            if msg is None:
                return
            command = msg.get_int()
            payload: cedar.Message | None = msg
            if command == cedar.DC_AUTHENTICATE:
                command, payload = await self.handshake(conn, msg)
            else:
                log.debug("peer=%s raw command %s", conn.peer, cedar.COMMAND_NAMES.get(command, command))
            if payload is not None and not await self.dispatch(conn, command, payload):
                return

    async def read_message(self, conn: Conn, first: bool = False) -> cedar.Message | None:
        """One whole message; None on a clean end of connection before it starts.

        Once its first header is in (at once for a message that must follow), the whole message
        must arrive within the read timeout, however it is cut into packets; every packet counts
        against the message limit with its header, so empty packets cannot go on for ever."""
        parts: list[bytes] = []
        total = 0
        deadline = None if first else time.monotonic() + self.config.read_timeout
        while True:
            if conn.unread() < cedar.HEADER.size:
                conn.deadline = deadline or time.monotonic() + self.config.idle_timeout
                try:
                    await conn.fill(cedar.HEADER.size)
                except asyncio.IncompleteReadError as exc:
                    if first and not parts and not exc.partial and not conn.timed_out:
                        return None
                    raise
            deadline = deadline or time.monotonic() + self.config.read_timeout
            end, length = cedar.HEADER.unpack_from(conn.buf, conn.pos)
            if end not in (0, 1) or length > cedar.MAX_PACKET:
                raise ProtocolError(f"bad packet header {conn.buf[conn.pos : conn.pos + 5].hex()}")
            total += cedar.HEADER.size + length
            if total > self.config.max_message:
                raise ProtocolError(f"message larger than {self.config.max_message} bytes")
            conn.pos += cedar.HEADER.size
            if conn.unread() < length:
                conn.deadline = deadline
                await conn.fill(length)
            parts.append(bytes(conn.buf[conn.pos : conn.pos + length]))
            conn.pos += length
            if end:
                return cedar.Message(parts[0] if len(parts) == 1 else b"".join(parts), self.config.max_attrs)

    async def write(self, conn: Conn, data: bytes) -> None:
        conn.writer.write(data)
        conn.deadline = time.monotonic() + self.config.read_timeout
        await conn.writer.drain()

    async def send(self, conn: Conn, ad: cedar.Ad) -> None:
        await self.write(conn, cedar.frame(cedar.Encoder().put_ad(ad).payload()))

    async def handshake(self, conn: Conn, msg: cedar.Message) -> tuple[int, cedar.Message | None]:
        """Answer DC_AUTHENTICATE; return the real command and its payload (None: nothing to run)."""
        auth = cedar.ad_dict(msg.get_ad())
        command = cedar.literal(auth.get("command", "0"))
        if not isinstance(command, int) or isinstance(command, bool):
            raise ProtocolError("DC_AUTHENTICATE without a Command")
        if cedar.literal(auth.get("usesession", '""')) == "YES":
            log.debug("session resumed for command %s", command)
            if cedar.literal(auth.get("resumeresponse", "false")) is True:
                await self.send(conn, cedar.server_resume_ad())
        else:
            if cedar.literal(auth.get("enact", '"NO"')) != "YES":
                await self.send(conn, cedar.server_policy_ad())
            sid = f"glidein:{os.getpid()}:{int(self.started)}:{next(self.sessions)}"
            await self.send(conn, cedar.server_session_ad(sid, SESSION_COMMANDS))
        if command == cedar.DC_AUTHENTICATE:
            return command, None
        if command == cedar.DC_SEC_QUERY:
            await self.send(conn, cedar.make_ad({"AuthorizationSucceeded": True}))
            return command, None
        return command, await self.read_message(conn)

    async def dispatch(self, conn: Conn, command: int, msg: cedar.Message) -> bool:
        """Run one command; False when the connection should close. An update joins the
        others at the ingest helper (in order); anything else first waits until the updates
        read before it are stored (a query that follows an update finds it)."""
        name = cedar.COMMAND_NAMES.get(command, "")
        if name.startswith("UPDATE_") and command in FAST_UPDATES:
            payload = cedar.INT.pack(command) + msg.data[msg.pos :]
            self.ingest.submit(
                Batch([(command, payload)], conn.peer, lambda why: self.fail(conn, why), len(payload))
            )
            return True
        if not name.startswith("DC_NOP"):
            await self.ingest.settled()
        if name.startswith("UPDATE_"):
            record = self.collector.update(command, msg, conn.peer)
            if command == cedar.COMMANDS["UPDATE_STARTD_AD"] and not msg.at_end():
                with contextlib.suppress(cedar.CedarError):
                    msg.get_ad_blob()  # a startd's private ad: not kept
            if command == cedar.COMMANDS["UPDATE_STARTD_AD_WITH_ACK"] and record is not None:
                await self.write(conn, cedar.frame(cedar.Encoder().put_int(1).payload()))
            return True
        if name.startswith("INVALIDATE_"):
            try:
                self.collector.invalidate(command, msg, conn.peer)
            except ClassAdError as exc:
                log.warning("peer=%s bad invalidation: %s", conn.peer, exc)
            return True
        if name.startswith("QUERY_"):
            await self.answer_query(conn, command, msg)
            return True
        if name.startswith("DC_NOP"):
            return True
        raise ProtocolError(f"unsupported command {command}")

    async def answer_query(self, conn: Conn, command: int, msg: cedar.Message) -> None:
        try:
            specs = self.collector.query_specs(command, msg)
        except ClassAdError as exc:
            log.warning("peer=%s bad query: %s", conn.peer, exc)
            specs = []
        if any(spec.types is None or "collector" in spec.types for spec in specs):
            self.publish_self_ad()  # fresh statistics
        buffer = bytearray()
        count = 0
        for item in self.collector.answer(specs, conn.peer):
            buffer += item
            count += 1
            if len(buffer) >= ANSWER_CHUNK:
                await self.write(conn, cedar.HEADER.pack(0, len(buffer)) + bytes(buffer))
                buffer.clear()
        buffer += cedar.INT.pack(0)
        await self.write(conn, cedar.HEADER.pack(1, len(buffer)) + bytes(buffer))
        log.debug("peer=%s %s answered %d ads", conn.peer, cedar.COMMAND_NAMES.get(command), count)
