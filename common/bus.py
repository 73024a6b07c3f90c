"""The ClassAd bus client every daemon uses: advertise, invalidate and query over `htcondor2.Collector`.

The same code talks to `glidein collector` and to a real `condor_collector`. Ads of custom MyTypes
(glidefactory, glideclient, ...) travel as generic ads; slot ads (MyType "Machine") and schedd ads
(MyType "Scheduler") use their own commands. Advertising and invalidating go to every pool and
go on when some are down: one warning line per collector when it goes down and one when it
answers again, BusError only when no pool took the ads. A query asks every pool and merges the
answers by (MyType, Name), keeping the copy with the highest AdSequence (then LastHeardFrom): an
ad held by two collectors is one ad, and a collector that restarted empty hides nothing the other
still holds; BusError only when no pool answered. A pool known to be down gets one attempt, not
the retries, until it answers again.

The bindings hold the GIL during network calls: never run a server thread in a process that uses
this module (servers get their own process).

Queries do not let the bindings read the answer: their C++ parser recurses, and one ad holding a
300,000-term expression kills the process (SIGSEGV) while one nested 1,000 deep fails the whole
query. `Bus.query` speaks CEDAR itself (`glidein.pool.cedar`, the no-security subset, with a
deadline for the whole answer), bounds every ad with `classad_limits.check_text` (AD limits) before
classad2 parses it, and skips a hostile ad with one log line; an answer of more than `max_ads` ads
fails the query. A collector that demands authentication (a secured condor_collector) is asked
through the bindings instead, which authenticate, in a worker process that bounds the answer's
count, size, time and memory, and whose crash fails the query only (`secured_query`); its ads
are bounded and parsed here as above.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import htcondor2

from glidein.common import classads, secured_query
from glidein.common.classad_limits import AD, OPEN, OPERATOR_CHARS, check_text
from glidein.common.errors import BusError, ClassAdError
from glidein.pool import cedar

log = logging.getLogger(__name__)
T = TypeVar("T")

# MyType -> (update command, query AdType, invalidate command) for the types with their own tables.
_TYPED = {
    "machine": ("UPDATE_STARTD_AD", htcondor2.AdType.Startd, "INVALIDATE_STARTD_ADS"),
    "scheduler": ("UPDATE_SCHEDD_AD", htcondor2.AdType.Schedd, "INVALIDATE_SCHEDD_ADS"),
    "collector": ("UPDATE_COLLECTOR_AD", htcondor2.AdType.Collector, "INVALIDATE_COLLECTOR_ADS"),
    "negotiator": ("UPDATE_NEGOTIATOR_AD", htcondor2.AdType.Negotiator, "INVALIDATE_NEGOTIATOR_ADS"),
    "daemonmaster": ("UPDATE_MASTER_AD", htcondor2.AdType.Master, "INVALIDATE_MASTER_ADS"),
    "submitter": ("UPDATE_SUBMITTOR_AD", htcondor2.AdType.Submitter, "INVALIDATE_SUBMITTOR_ADS"),
}
_GENERIC = ("UPDATE_AD_GENERIC", htcondor2.AdType.Any, "INVALIDATE_ADS_GENERIC")
# MyType -> the CEDAR query command for it and the TargetType of the query ad (others: QUERY_ANY_ADS).
_QUERY = {
    "machine": ("QUERY_STARTD_ADS", "Machine"),
    "scheduler": ("QUERY_SCHEDD_ADS", "Scheduler"),
    "collector": ("QUERY_COLLECTOR_ADS", "Collector"),
    "negotiator": ("QUERY_NEGOTIATOR_ADS", "Negotiator"),
    "daemonmaster": ("QUERY_MASTER_ADS", "DaemonMaster"),
    "submitter": ("QUERY_SUBMITTOR_ADS", "Submitter"),
}
MAX_ADS = 1_000_000  # ads in one query answer
SECURED_RECHECK_S = 600.0  # a collector that wanted authentication is asked without it again after this
_OPERATOR_BYTES = "".join(sorted(OPERATOR_CHARS)).encode()
_OPEN_BYTES = [char.encode() for char in sorted(OPEN)]
_NAME_LINE = re.compile(r"(?:^|\0)Name\s*=\s*([^\0]*)", re.I)


def _commands(my_type: str) -> tuple[str, htcondor2.AdType, str]:
    return _TYPED.get(my_type.lower(), _GENERIC)


def _string_attr(ad: classads.ClassAd, name: str) -> str:
    value = classads.eval_attr(ad, name)
    if not isinstance(value, str) or not value:
        raise BusError(f"ad without a string {name}: cannot advertise it")
    return value


class Bus:
    """Client of one or more collectors ("host:port" each)."""

    def __init__(
        self,
        pools: Sequence[str],
        timeout: float = 10.0,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        max_ads: int = MAX_ADS,
    ) -> None:
        if not pools:
            raise BusError("no collector given")
        self.pools = list(pools)
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep
        self.max_ads = max_ads
        self._secured: dict[str, float] = {}  # collector -> when it refused a client without security
        self.down: set[str] = set()  # collectors whose last call failed (one warning per outage)
        htcondor2.param["QUERY_TIMEOUT"] = str(max(1, int(timeout)))
        self._collectors = {pool: htcondor2.Collector(pool) for pool in self.pools}

    def _attempt(self, pool: str, what: str, call: Callable[[], T]) -> T:
        """Run `call` with retries and back-off; BusError naming the pool when all fail."""
        delay = 0.2
        retries = 0 if pool in self.down else self.retries
        for attempt in range(retries + 1):
            try:
                return call()
            except (htcondor2.HTCondorException, OSError, RuntimeError, cedar.CedarError) as exc:
                if attempt == retries:
                    raise BusError(f"{what} at collector {pool} failed: {exc}") from exc
                log.debug("collector=%s %s failed (attempt %d): %s", pool, what, attempt + 1, exc)
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _mark(self, pool: str, error: BusError | None) -> None:
        """Log a collector going down (warning) or answering again (info), once per change."""
        if error is not None and pool not in self.down:
            self.down.add(pool)
            log.warning("collector=%s is down, going on with the others: %s", pool, error)
        elif error is None and pool in self.down:
            self.down.discard(pool)
            log.info("collector=%s answers again", pool)

    def _each(self, what: str, call: Callable[[str, htcondor2.Collector], T]) -> list[T]:
        """`call` at every pool; the answers of those that worked, BusError when none did."""
        answers, errors = [], []
        for pool, collector in self._collectors.items():
            try:
                answers.append(call(pool, collector))
            except BusError as exc:
                errors.append(str(exc))
                self._mark(pool, exc)
            else:
                self._mark(pool, None)
        if not answers:
            raise BusError(f"no collector {what}: " + "; ".join(errors))
        return answers

    def advertise(self, ads: Sequence[classads.ClassAd]) -> None:
        """Send every ad (each with MyType and Name) to every pool; BusError only if no pool took them."""
        groups: dict[str, list[classads.ClassAd]] = {}
        for ad in ads:
            _string_attr(ad, "Name")
            groups.setdefault(_commands(_string_attr(ad, "MyType"))[0], []).append(ad)

        def send(pool: str, collector: htcondor2.Collector) -> None:
            for command, group in groups.items():
                call = functools.partial(collector.advertise, group, command)
                self._attempt(pool, f"advertise {len(group)} ads", call)

        if groups:
            self._each("took the ads", send)

    def invalidate(self, my_type: str, constraint: str = "true") -> None:
        """Remove the ads of `my_type` matching `constraint` from every pool (BusError if none took it)."""
        classads.parse_expr(constraint)  # ClassAdError names a bad constraint before any I/O
        command = _commands(my_type)[2]
        query = classads.ClassAd({"MyType": "Query", "TargetType": my_type})
        query["Requirements"] = classads.parse_expr(constraint)

        def send(pool: str, collector: htcondor2.Collector) -> None:
            call = functools.partial(collector.advertise, [query], command)
            self._attempt(pool, f"invalidate {my_type}", call)

        self._each(f"took the invalidation of {my_type} ads", send)

    def query(
        self, my_type: str | None, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[classads.ClassAd]:
        """Ads of `my_type` (None: any) matching `constraint`, merged over the pools that answer."""
        classads.parse_expr(constraint)
        if my_type is None:
            ad_type, full = htcondor2.AdType.Any, constraint
        else:
            ad_type = _commands(my_type)[1]
            full = constraint
            if ad_type == htcondor2.AdType.Any:
                full = f"(MyType == {classads.quote(my_type)}) && ({constraint})"
        command, target = _QUERY.get((my_type or "").lower(), ("QUERY_ANY_ADS", "Any"))
        wanted = list(projection)
        if wanted and len(self.pools) > 1:  # what the merge needs
            wanted += [a for a in _MERGE_ATTRS if a.lower() not in {w.lower() for w in wanted}]

        def ask(pool: str, collector: htcondor2.Collector) -> list[classads.ClassAd]:
            wire = _WireQuery(pool, cedar.COMMANDS[command], target, full, wanted)
            return self._attempt(pool, "query", functools.partial(self._query_one, wire, ad_type))

        answers = self._each("answered", ask)
        return answers[0] if len(answers) == 1 else merge_answers(answers)

    def _query_one(self, wire: _WireQuery, ad_type: htcondor2.AdType) -> list[classads.ClassAd]:
        marked = self._secured.get(wire.address)
        if marked is None or time.monotonic() - marked >= SECURED_RECHECK_S:
            try:
                answer = wire.run(self.timeout, self.max_ads)
            except _NeedsSecurity as exc:
                log.info("collector=%s %s: asking through htcondor2, which authenticates", wire.address, exc)
                self._secured[wire.address] = time.monotonic()
            else:
                return [
                    ad for number, blob in enumerate(answer, 1) if (ad := _bounded_ad(blob, wire, number))
                ]
        request = secured_query.Request(wire.address, int(ad_type), wire.constraint, wire.projection)
        ads = []
        bounds = secured_query.Bounds(self.timeout, self.max_ads)
        for number, (kind, data) in enumerate(secured_query.query(request, bounds), 1):
            if kind != b"A":
                why = data[:200].decode("utf-8", "replace")
                log.warning("collector=%s skipped ad %d of a query answer: %s", wire.address, number, why)
            elif ad := _bounded_new_ad(data, wire, number):
                ads.append(ad)
        return ads


_MERGE_ATTRS = ("MyType", "Name", "AdSequence", "LastHeardFrom")


def _freshness(ad: classads.ClassAd) -> tuple[float, float]:
    values = []
    for attr in ("AdSequence", "LastHeardFrom"):
        value = ad.get(attr)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        values.append(float(value) if number else -1.0)
    return values[0], values[1]


def merge_answers(answers: Sequence[list[classads.ClassAd]]) -> list[classads.ClassAd]:
    """One ad per (MyType, Name) over several collectors' answers: the freshest copy (highest
    AdSequence, then LastHeardFrom; the first answer's on a tie). Ads without a string Name are
    taken from the first answer only (they cannot be told apart)."""
    merged: dict[tuple[str, str], classads.ClassAd] = {}
    nameless: list[classads.ClassAd] = []
    for number, answer in enumerate(answers):
        for ad in answer:
            name, my_type = ad.get("Name"), ad.get("MyType")
            if not isinstance(name, str):
                if number == 0:
                    nameless.append(ad)
                continue
            key = (str(my_type).lower() if isinstance(my_type, str) else "", name)
            held = merged.get(key)
            if held is None or _freshness(ad) > _freshness(held):
                merged[key] = ad
    return nameless + list(merged.values())


class _NeedsSecurity(Exception):
    """The collector will not answer a client without authentication."""


class _Connection(cedar.Connection):
    """A CEDAR connection whose reads all share one deadline (a trickling answer cannot hang us)."""

    def __init__(self, address: str, timeout: float) -> None:
        super().__init__(address, timeout)
        self.deadline = time.monotonic() + timeout
        self.closed_by_peer = False

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise cedar.CedarError(f"{self.address} did not answer within the query timeout")
            try:
                self.sock.settimeout(left)
                chunk = self.sock.recv(min(size, 1 << 20))
            except OSError as exc:
                raise cedar.CedarError(f"read from {self.address} failed: {exc}") from exc
            if not chunk:
                self.closed_by_peer = True
                raise cedar.CedarError(f"{self.address} closed the connection")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def start_command(self, command: int) -> None:
        """DC_AUTHENTICATE asking for a session without security; _NeedsSecurity when refused
        (condor_collector with authentication required just closes the connection)."""
        self.send(cedar.Encoder().put_int(cedar.DC_AUTHENTICATE).put_ad(cedar.client_auth_ad(command)))
        try:
            policy = cedar.ad_dict(self.receive().get_ad())
            for feature in cedar.NO_SECURITY:
                if cedar.literal(policy.get(feature.lower(), '"NO"')) == "YES":
                    raise _NeedsSecurity(f"it requires {feature}")
            session = cedar.ad_dict(self.receive().get_ad())
        except cedar.CedarError as exc:
            if self.closed_by_peer:
                raise _NeedsSecurity(
                    f"it closed the connection of a client without security: {exc}"
                ) from None
            raise
        code = cedar.literal(session.get("returncode", '""'))
        if code not in ("", "AUTHORIZED"):
            raise _NeedsSecurity(f"it answered {code} to a client without authentication")


class _WireQuery:
    """One query spoken in CEDAR by this process; the answer as raw (name, expression) pairs."""

    def __init__(
        self, address: str, command: int, target: str, constraint: str, projection: list[str]
    ) -> None:
        self.address, self.command, self.target = address, command, target
        self.constraint, self.projection = constraint, projection

    def run(self, timeout: float, max_ads: int) -> list[bytes]:
        """The answered ads, each as its `Name = expr` lines (NUL-terminated), not parsed."""
        values: dict[str, cedar.Literal] = {"MyType": "Query", "TargetType": self.target}
        if self.projection:
            values["Projection"] = ",".join(self.projection)
        request = [*cedar.make_ad(values), ("Requirements", cedar.new_to_old(self.constraint))]
        with _Connection(self.address, timeout) as conn:
            conn.start_command(self.command)
            conn.send(cedar.Encoder().put_ad(request))
            reply = conn.receive()
        return _ad_blobs(reply, max_ads)


def _ad_blobs(reply: cedar.Message, max_ads: int) -> list[bytes]:
    """Split a query answer into ads without walking line by line when the layout is the usual
    one (lines, then two empty type strings); anything else takes cedar's exact walk."""
    data, blobs = reply.data, list[bytes]()
    while reply.get_int():
        if len(blobs) >= max_ads:
            raise cedar.CedarError(f"answer holds more than {max_ads} ads")
        start = reply.pos + 8
        count = int.from_bytes(data[reply.pos : start], "big", signed=True)
        end = data.find(b"\0\0\0", start) + 1
        if count > 0 and end > 0 and data.count(b"\0", start, end) == count and b"ZKM" not in data[start:end]:
            blobs.append(data[start:end])
            reply.pos = end + 2
        else:
            blobs.append(reply.get_ad_blob()[1])
    return blobs


def _bounded_ad(blob: bytes, wire: _WireQuery, number: int) -> classads.ClassAd | None:
    """The ClassAd of one answered ad, or None (one log line) when it is beyond the limits."""
    text = blob.decode("utf-8", "replace")
    try:
        if not _surely_within(blob):
            check_text(text, f"ad {number}", AD)  # the exact count, outside string literals
        if "\n" in text:  # a value holding a newline: pair by pair
            return classads.from_old_pairs([cedar.split_line(line) for line in text.split("\0")[:-1]])
        return classads.parse_ad(text.replace("\0", "\n"))
    except ClassAdError as exc:
        name = _NAME_LINE.search(text)
        shown = name.group(1)[:80] if name else "?"
        log.warning("collector=%s skipped ad Name=%s from a query answer: %s", wire.address, shown, exc)
        return None


def _bounded_new_ad(data: bytes, wire: _WireQuery, number: int) -> classads.ClassAd | None:
    """An ad in new syntax (from the secured-query worker), bounded as `_bounded_ad` bounds one."""
    text = data.decode("utf-8", "replace")
    try:
        if not _surely_within(data):
            check_text(text, f"ad {number}", AD)
        return classads.parse_ad(text)
    except ClassAdError as exc:
        log.warning("collector=%s skipped ad %d from a query answer: %s", wire.address, number, exc)
        return None


def _surely_within(blob: bytes) -> bool:
    """True when even counting inside string literals the ad is within AD limits (C-speed counts)."""
    if len(blob) > AD.max_chars:
        return False
    opens = sum(blob.count(char) for char in _OPEN_BYTES)
    return (
        opens <= AD.max_depth and len(blob) - len(blob.translate(None, _OPERATOR_BYTES)) <= AD.max_operators
    )
