"""HTCondor's CEDAR wire protocol, the no-security subset: framing, primitives, ClassAds, handshake.

Stdlib only and Python >= 3.6: the embedded startd ships this file to worker nodes.

Facts (from HTCondor's src/condor_io and src/condor_utils, not copied):
- A message is a series of packets; each packet is a 5-byte header (1-byte end flag, 1 on the last
  packet of a message, then a 4-byte big-endian payload length) and its payload. Peers reject
  packets larger than 1 MiB.
- Integers are 8-byte big-endian two's complement; strings are NUL-terminated bytes (a lone
  0xFF byte is a NULL string).
- A ClassAd is an integer count, that many `Name = expr` strings in old ClassAd syntax (a `ZKM`
  string announces that the next one is a secret; without encryption it travels in the clear),
  then two (empty) strings that once carried MyType and TargetType.
- Old syntax escapes only the quote inside strings (`\\"`); every other backslash is literal,
  and a `\\"` that ends the expression (or a line) is a literal backslash then the closing quote.
"""

import re
import socket
import struct
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

Ad = List[Tuple[str, str]]  # (attribute name, expression text in old syntax)
Literal = Union[None, bool, int, float, str]

DC_AUTHENTICATE = 60010
DC_NOP = 60011
DC_SEC_QUERY = 60040
MAX_PACKET = 1 << 20
HEADER = struct.Struct(">bI")
INT = struct.Struct(">q")
SECRET_MARKER = "ZKM"  # noqa: S105 - a protocol marker, not a secret
VERSION = "$CondorVersion: 25.14.1 2025-01-01 BuildID: glidein $"

COMMANDS = {
    "UPDATE_STARTD_AD": 0, "UPDATE_SCHEDD_AD": 1, "UPDATE_MASTER_AD": 2, "UPDATE_CKPT_SRVR_AD": 4,
    "QUERY_STARTD_ADS": 5, "QUERY_SCHEDD_ADS": 6, "QUERY_MASTER_ADS": 7, "QUERY_CKPT_SRVR_ADS": 9,
    "QUERY_STARTD_PVT_ADS": 10, "UPDATE_SUBMITTOR_AD": 11, "QUERY_SUBMITTOR_ADS": 12,
    "INVALIDATE_STARTD_ADS": 13, "INVALIDATE_SCHEDD_ADS": 14, "INVALIDATE_MASTER_ADS": 15,
    "INVALIDATE_CKPT_SRVR_ADS": 17, "INVALIDATE_SUBMITTOR_ADS": 18, "UPDATE_COLLECTOR_AD": 19,
    "QUERY_COLLECTOR_ADS": 20, "INVALIDATE_COLLECTOR_ADS": 21, "UPDATE_LICENSE_AD": 42,
    "QUERY_LICENSE_ADS": 43, "INVALIDATE_LICENSE_ADS": 44, "UPDATE_STORAGE_AD": 45,
    "QUERY_STORAGE_ADS": 46, "INVALIDATE_STORAGE_ADS": 47, "QUERY_ANY_ADS": 48,
    "UPDATE_NEGOTIATOR_AD": 49, "QUERY_NEGOTIATOR_ADS": 50, "INVALIDATE_NEGOTIATOR_ADS": 51,
    "QUERY_MULTIPLE_ADS": 53, "QUERY_MULTIPLE_PVT_ADS": 54, "UPDATE_HAD_AD": 55, "QUERY_HAD_ADS": 56,
    "INVALIDATE_HAD_ADS": 57, "UPDATE_AD_GENERIC": 58, "INVALIDATE_ADS_GENERIC": 59,
    "UPDATE_STARTD_AD_WITH_ACK": 60, "UPDATE_GRID_AD": 70, "QUERY_GRID_ADS": 71,
    "INVALIDATE_GRID_ADS": 72, "MERGE_STARTD_AD": 73, "QUERY_GENERIC_ADS": 74,
    "UPDATE_ACCOUNTING_AD": 77, "QUERY_ACCOUNTING_ADS": 78, "INVALIDATE_ACCOUNTING_ADS": 79,
    "UPDATE_OWN_SUBMITTOR_AD": 80, "DC_AUTHENTICATE": DC_AUTHENTICATE, "DC_NOP": DC_NOP,
    "DC_SEC_QUERY": DC_SEC_QUERY,
}  # fmt: skip
COMMAND_NAMES = {number: name for name, number in COMMANDS.items()}
# The MyType each typed command stores, queries or invalidates (GENERIC/ANY/MULTIPLE use TargetType).
COMMAND_TYPES = {
    "STARTD": "Machine", "SCHEDD": "Scheduler", "MASTER": "DaemonMaster", "CKPT_SRVR": "CkptServer",
    "SUBMITTOR": "Submitter", "COLLECTOR": "Collector", "LICENSE": "License", "STORAGE": "Storage",
    "NEGOTIATOR": "Negotiator", "HAD": "HAD", "GRID": "Grid", "ACCOUNTING": "Accounting",
}  # fmt: skip


class CedarError(Exception):
    """Bytes that do not follow the protocol, or a peer that broke the exchange."""


def command_type(command: int) -> Optional[str]:
    """The MyType a typed UPDATE/QUERY/INVALIDATE command works on; None for generic and any."""
    return _COMMAND_TYPE.get(command)


_KIND = re.compile(r"(?:UPDATE|QUERY|INVALIDATE|MERGE)_(\w+?)(?:_AD_WITH_ACK|_PVT_ADS|_ADS|_AD)\Z")
_COMMAND_TYPE = {
    number: COMMAND_TYPES.get(match.group(1)) if match else None
    for number, match in ((number, _KIND.match(name)) for number, name in COMMAND_NAMES.items())
}

# ---------------------------------------------------------------------------------------------
# Framing and primitives


def frame(payload: bytes, max_packet: int = MAX_PACKET) -> bytes:
    """One message as packets of at most `max_packet` bytes; the last carries the end flag."""
    if not payload:
        return HEADER.pack(1, 0)
    parts = []
    for start in range(0, len(payload), max_packet):
        chunk = payload[start : start + max_packet]
        last = start + max_packet >= len(payload)
        parts.append(HEADER.pack(1 if last else 0, len(chunk)))
        parts.append(chunk)
    return b"".join(parts)


class Encoder:
    """Builds the payload of one message."""

    def __init__(self) -> None:
        self.parts = []  # type: List[bytes]

    def put_int(self, value: int) -> "Encoder":
        self.parts.append(INT.pack(value))
        return self

    def put_str(self, value: str) -> "Encoder":
        data = value.encode("utf-8", "surrogateescape")
        if b"\0" in data:
            raise CedarError("a CEDAR string cannot contain NUL")
        self.parts.append(data + b"\0")
        return self

    def put_ad(self, ad: Sequence[Tuple[str, str]]) -> "Encoder":
        self.put_int(len(ad))
        for name, expr in ad:
            self.put_str(name + " = " + expr)
        self.parts.append(b"\0\0")  # the obsolete MyType and TargetType strings
        return self

    def payload(self) -> bytes:
        return b"".join(self.parts)


class Message:
    """Reads primitives from the payload of one received message."""

    def __init__(self, data: bytes, max_attrs: int = 100000) -> None:
        self.data = data
        self.pos = 0
        self.max_attrs = max_attrs

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def get_int(self) -> int:
        if self.pos + 8 > len(self.data):
            raise CedarError("message ends inside an integer")
        (value,) = INT.unpack_from(self.data, self.pos)
        self.pos += 8
        return int(value)

    def get_raw(self) -> bytes:
        """One string as raw bytes without its NUL (a NULL string is empty)."""
        if self.pos < len(self.data) and self.data[self.pos] == 0xFF:
            self.pos += 1
            return b""
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise CedarError("message ends inside a string")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        return raw

    def get_str(self) -> str:
        return self.get_raw().decode("utf-8", "replace")

    def get_ad_blob(self, alone: bool = False) -> Tuple[int, bytes]:
        """(count, the `Name = expr` strings of one ClassAd each with its NUL) without copying
        line by line; secret markers are dropped. `alone`: the ad probably ends the message (an
        update), which allows a check over the rest of the message instead of a walk per line."""
        count = self.get_int()
        if count < 0 or count > self.max_attrs:
            raise CedarError("ClassAd attribute count {} out of range".format(count))
        data = self.data
        start = end = self.pos
        if alone and data.count(b"\0", start) == count + 2 and data.endswith(b"\0\0") and b"ZKM" not in data:
            self.pos = len(data)  # an update: just this ad and its two empty type strings
            return count, data[start:-2]
        markers = 0
        for _ in range(count):
            if data.startswith(b"ZKM\0", end):
                markers += 1
                end += 4
            end = data.find(b"\0", end) + 1
            if end == 0:
                raise CedarError("message ends inside a string")
        blob = data[start:end]
        if markers:
            blob = b"".join(line + b"\0" for line in blob.split(b"\0")[:-1] if line != b"ZKM")
        self.pos = end
        self.get_raw()
        self.get_raw()
        return count, blob

    def get_ad_raw(self) -> List[bytes]:
        """The `Name = expr` strings of one ClassAd, as raw bytes."""
        return self.get_ad_blob()[1].split(b"\0")[:-1]

    def get_ad(self) -> Ad:
        return [split_line(line.decode("utf-8", "replace")) for line in self.get_ad_raw()]


def split_line(line: str) -> Tuple[str, str]:
    """`Name = expr` -> (name, expr); CedarError when there is no `=` or the name is not one."""
    name, sep, expr = line.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise CedarError("not an attribute assignment: {!r}".format(line[:80]))
    return name, expr.strip()


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")


# ---------------------------------------------------------------------------------------------
# Old <-> new syntax strings

_NEW_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}
_NEW_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "a": "\a", "v": "\v"}
_NEW_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_OCTAL = re.compile(r"\\([0-3][0-7]{0,2}|[0-7]{1,2})|\\(.)", re.S)


def quote_new(value: str) -> str:
    """A new-syntax string literal."""
    return '"' + "".join(_NEW_ESCAPES.get(ch, ch) for ch in value) + '"'


def quote_old(value: str) -> str:
    """An old-syntax string literal (only the quote is escaped)."""
    return '"' + value.replace('"', '\\"') + '"'


def _unescape_new(body: str) -> str:
    def one(match: "re.Match[str]") -> str:
        if match.group(1) is not None:
            return chr(int(match.group(1), 8))
        ch = match.group(2)
        return _NEW_UNESCAPE.get(ch, ch)

    return _OCTAL.sub(one, body)


def new_to_old(expr: str) -> str:
    """Rewrite the string literals of a new-syntax expression into old syntax."""
    if "\\" not in expr:
        return expr
    return _NEW_STRING.sub(lambda m: quote_old(_unescape_new(m.group(1))), expr)


def _old_string_end(expr: str, start: int) -> int:
    """Index of the quote closing the old-syntax string whose body starts at `start`, or -1."""
    pos = start
    while True:
        end = expr.find('"', pos)
        if end < 0:
            return -1
        if end > start and expr[end - 1] == "\\" and end + 1 < len(expr) and expr[end + 1] != "\n":
            pos = end + 1  # an escaped quote inside the string
            continue
        return end


def old_to_new(expr: str) -> str:
    """Rewrite the string literals of an old-syntax expression into new syntax.

    Raises CedarError on an unterminated string literal."""
    if "\\" not in expr:
        return expr
    out = []
    pos = 0
    while True:
        start = expr.find('"', pos)
        if start < 0:
            out.append(expr[pos:])
            return "".join(out)
        end = _old_string_end(expr, start + 1)
        if end < 0:
            raise CedarError("unterminated string in {!r}".format(expr[:80]))
        out.append(expr[pos:start])
        body = expr[start + 1 : end].replace('\\"', '"')
        out.append(quote_new(body))
        pos = end + 1


def literal(expr: str) -> Literal:
    """The value of a literal old-syntax expression (string, integer, real, boolean), else None."""
    text = expr.strip()
    if len(text) >= 2 and text[0] == '"' and _old_string_end(text, 1) == len(text) - 1:
        return text[1:-1].replace('\\"', '"')
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return None


def to_expr(value: Literal) -> str:
    """An old-syntax literal for a Python value."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return quote_old(value)


def ad_dict(ad: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """Case-insensitive lookup table: lower-cased name -> expression text."""
    return {name.lower(): expr for name, expr in ad}


def make_ad(values: Dict[str, Literal]) -> Ad:
    return [(name, to_expr(value)) for name, value in values.items()]


# ---------------------------------------------------------------------------------------------
# DC_AUTHENTICATE handshake pieces (a session with no authentication, encryption or integrity)

NO_SECURITY = {"Authentication": "NO", "Encryption": "NO", "Integrity": "NO"}


def client_auth_ad(command: int, sid: Optional[str] = None) -> Ad:
    """What a client sends after DC_AUTHENTICATE: a new session, or a resumed one with `sid`."""
    values = {"Command": command, "RemoteVersion": VERSION}  # type: Dict[str, Literal]
    if sid:
        values.update({"UseSession": "YES", "Sid": sid, "Enact": "YES", "ResumeResponse": True})
    else:
        values.update({"NewSession": "YES", "Enact": "NO", "OutgoingNegotiation": "PREFERRED"})
        values.update({"AuthMethods": "", "CryptoMethods": "", "AuthRequired": False})
        values.update(NO_SECURITY)
    return make_ad(values)


def server_policy_ad() -> Ad:
    """The server's answer to a new session: no authentication, no encryption, no integrity."""
    values = {"Enact": "YES", "RemoteVersion": VERSION, "SessionDuration": "86400"}  # type: Dict[str, Literal]
    values.update({"SessionLease": 3600, "AuthRequired": False, "NegotiatedSession": True})
    values.update(NO_SECURITY)
    return make_ad(values)


def server_session_ad(sid: str, valid_commands: Iterable[int]) -> Ad:
    """The post-authentication ad: session id, the commands it covers, AUTHORIZED."""
    commands = ",".join(str(number) for number in valid_commands)
    return make_ad({"Sid": sid, "ValidCommands": commands, "ReturnCode": "AUTHORIZED"})


def server_resume_ad() -> Ad:
    return make_ad({"ReturnCode": "AUTHORIZED", "RemoteVersion": VERSION})


# ---------------------------------------------------------------------------------------------
# A small blocking client (used by the embedded startd; the daemons use htcondor2 via common/bus.py)

MAX_MESSAGE = 256 << 20


def parse_address(address: str) -> Tuple[str, int]:
    """ "host:port" or a sinful string "<host:port?...>" -> (host, port)."""
    text = address.strip()
    if text.startswith("<"):
        text = text[1:].split(">", 1)[0].split("?", 1)[0]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise CedarError("collector address {!r} is not host:port".format(address))
    return host.strip("[]") or "127.0.0.1", int(port)


class Connection:
    """One TCP connection to a collector, speaking whole CEDAR messages."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        host, port = parse_address(address)
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise CedarError("cannot connect to {}: {}".format(address, exc)) from exc
        self.address = address

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def send(self, encoder: Encoder) -> None:
        try:
            self.sock.sendall(frame(encoder.payload()))
        except OSError as exc:
            raise CedarError("send to {} failed: {}".format(self.address, exc)) from exc

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            try:
                chunk = self.sock.recv(min(size, 1 << 20))
            except OSError as exc:
                raise CedarError("read from {} failed: {}".format(self.address, exc)) from exc
            if not chunk:
                raise CedarError("{} closed the connection".format(self.address))
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> Message:
        parts = []
        total = 0
        while True:
            end, length = HEADER.unpack(self._read(HEADER.size))
            if end not in (0, 1) or length > MAX_PACKET:
                raise CedarError("bad packet header from {}".format(self.address))
            total += length
            if total > MAX_MESSAGE:
                raise CedarError("message from {} too large".format(self.address))
            parts.append(self._read(length))
            if end:
                return Message(b"".join(parts))

    def start_command(self, command: int) -> None:
        """DC_AUTHENTICATE for `command` asking for a session without any security."""
        self.send(Encoder().put_int(DC_AUTHENTICATE).put_ad(client_auth_ad(command)))
        policy = ad_dict(self.receive().get_ad())
        for feature in NO_SECURITY:
            if literal(policy.get(feature.lower(), '"NO"')) == "YES":
                raise CedarError("{} requires {}; this client has none".format(self.address, feature))
        session = ad_dict(self.receive().get_ad())
        code = literal(session.get("returncode", '""'))
        if code not in ("", "AUTHORIZED"):
            raise CedarError("{} answered {} for command {}".format(self.address, code, command))


def _typed_command(prefix: str, ad_type: str) -> Tuple[int, str]:
    """(command number, TargetType) for an ad type such as STARTD, ANY or a custom MyType."""
    upper = ad_type.upper()
    if upper == "ANY" and prefix == "QUERY_":
        return COMMANDS["QUERY_ANY_ADS"], "Any"
    if upper in COMMAND_TYPES:
        name = prefix + upper + "_ADS"
        return COMMANDS[name], COMMAND_TYPES[upper]
    generic = "QUERY_GENERIC_ADS" if prefix == "QUERY_" else "INVALIDATE_ADS_GENERIC"
    return COMMANDS[generic], ad_type


def advertise(
    address: str, ads: Sequence[Sequence[Tuple[str, str]]], command: str = "UPDATE_STARTD_AD",
    timeout: float = 10.0,
) -> None:  # fmt: skip
    """Send ads (each a list of (name, old-syntax expression)) on one connection."""
    if command not in COMMANDS:
        raise CedarError("unknown command {}".format(command))
    if not ads:
        return
    number = COMMANDS[command]
    with Connection(address, timeout) as conn:
        conn.start_command(number)
        conn.send(Encoder().put_ad(ads[0]))
        for ad in ads[1:]:
            conn.send(Encoder().put_int(number).put_ad(ad))
        conn.send(Encoder().put_int(DC_NOP))


def query(
    address: str, ad_type: str = "STARTD", constraint: str = "true", projection: Sequence[str] = (),
    timeout: float = 10.0,
) -> List[Ad]:  # fmt: skip
    """Ads of `ad_type` (STARTD, SCHEDD, ANY, ... or a custom MyType) matching `constraint`."""
    number, target = _typed_command("QUERY_", ad_type)
    values = {"MyType": "Query", "TargetType": target}  # type: Dict[str, Literal]
    if projection:
        values["Projection"] = ",".join(projection)
    request = make_ad(values)
    request.append(("Requirements", new_to_old(constraint)))
    results = []
    with Connection(address, timeout) as conn:
        conn.start_command(number)
        conn.send(Encoder().put_ad(request))
        reply = conn.receive()
        while reply.get_int():
            results.append(reply.get_ad())
    return results


def invalidate(address: str, ad_type: str, constraint: str, timeout: float = 10.0) -> None:
    """Remove the ads of `ad_type` matching `constraint`."""
    number, target = _typed_command("INVALIDATE_", ad_type)
    request = make_ad({"MyType": "Query", "TargetType": target})
    request.append(("Requirements", new_to_old(constraint)))
    with Connection(address, timeout) as conn:
        conn.start_command(number)
        conn.send(Encoder().put_ad(request))
