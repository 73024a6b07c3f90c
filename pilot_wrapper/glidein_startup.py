#!/usr/bin/env python3
"""glidein pilot wrapper: verify the staged files, validate the node, start the startd.

ONE file, Python >= 3.6, standard library only: it runs on worker nodes nobody here controls.
Chain of trust per level (main, entry, client, group): `-descript*` names `description.<D>.json`;
the `-sign*` argument is the hash of `signature.<D>.txt`, which lists the hash of the description
(first line) and of every file; with `-signkey` the signature file must also carry a valid Ed25519
signature. Every file of every level is downloaded and verified before anything runs. Exit 0 on
success, else the failure class code (1 WN_Resource, 2 Network, 3 Config, 4 VO_Config,
5 Corruption, 6 Killed: not a validation failure, the node is not held). Files of all levels
run by their `order`; at equal order main, entry, client, group. The startd gets SIGTERM when the
wrapper dies; when it ends, the wrapper kills the process groups of jobs it left.
"""

import base64
import contextlib
import glob
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

KILLED = "Killed"  # a signal ended the pilot (SIGTERM before its startd) or its startd after it ran
FAILURE_CODES = {"WN_Resource": 1, "Network": 2, "Config": 3, "VO_Config": 4, "Corruption": 5}
FAILURE_CODES[KILLED] = 6
KILLED_AFTER = 10.0  # s: a startd a signal ends sooner "exited at once" (Config)
JOB_PGIDS = os.path.join("execute", "job_pgids")  # the embedded startd's records of its jobs' groups
# (level, web argument, sign argument, description argument)
LEVELS = (
    ("main", "web", "sign", "descript"),
    ("entry", "web", "signentry", "descriptentry"),
    ("client", "clientweb", "clientsign", "clientdescript"),
    ("group", "clientwebgroup", "clientsigngroup", "clientdescriptgroup"),
)
KINDS = ("exec", "source", "config", "untar", "startd_bundle")
DEFAULTS = {"signtype": "sha256", "v": "std", "hold_time": "1200", "retries": "3", "dir": "."}
SECRET_PARAMS = ("GLIDEIN_Token",)
MAX_PARAM_FILE = 64 * 1024  # bytes of a -param_file
STOP_TIMEOUT = 90.0  # seconds from SIGTERM to the startd (or its launcher) to SIGKILL
MAX_LISTING = 16 << 20  # bytes of a signature or description file
MAX_TARBALL = 2 << 30  # bytes of an untar or startd_bundle file; other files MAX_FILE
MAX_FILE = 256 << 20
SCHEMES = ("http://", "https://")  # a self-contained pilot (unpack.py) adds file:// for its own files
FINAL_HOOKS: List[Any] = []  # called with (report, local log path) after the final report (unpack.py)


# -dir keywords of glideinWMS: the first of these variables naming a directory, else the job's dir
WORK_DIR_VARS = {
    "OSG": ("OSG_WN_TMP",),
    "Condor": ("_CONDOR_SCRATCH_DIR",),
    "AUTO": ("_CONDOR_SCRATCH_DIR", "OSG_WN_TMP", "TMPDIR"),
}


def work_base(where: str) -> str:
    """`-dir`: a path, `TMPDIR`, or glideinWMS's `OSG`, `Condor` or `AUTO` (see WORK_DIR_VARS)."""
    if where == "TMPDIR":
        return os.path.abspath(tempfile.gettempdir())
    names = WORK_DIR_VARS.get(where)
    if names is None:
        return os.path.abspath(os.path.expandvars(where))
    found = [os.environ[name] for name in names if os.path.isdir(os.environ.get(name) or "/nonexistent")]
    return os.path.abspath(found[0] if found else os.getcwd())


def http_proxy(value: str, env: Dict[str, str]) -> Optional[str]:
    """GLIDEIN_Proxy_URL (the entry's `pilot.proxy_url`, glideinWMS `proxy_url`) -> the proxy for
    the pilot's http downloads: a URL, `OSG` (the site's $OSG_SQUID_LOCATION), or none (`None`,
    `auto`, unset: the node's own http_proxy, if any)."""
    text = value.strip()
    if text.upper() == "OSG":
        text = env.get("OSG_SQUID_LOCATION", "").strip()
        if text.upper() in ("", "UNAVAILABLE"):
            return None
    elif text.lower() in ("", "none", "auto"):
        return None
    return text if "://" in text else "http://" + text


class PilotFailure(Exception):
    """The pilot stops: `failure_class` is one of FAILURE_CODES."""

    def __init__(self, failure_class: str, message: str, step: str = "", output: str = "") -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.message = message
        self.step = step
        self.output = output  # the failing script's last output lines, for the report


# ---- Ed25519 verification (RFC 8032, section 5.1.7), pure integer arithmetic ----
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
Point = Tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)


def _pt_add(a: Point, b: Point) -> Point:
    ya, yb = (a[1] - a[0]) * (b[1] - b[0]) % _P, (a[1] + a[0]) * (b[1] + b[0]) % _P
    c, d = 2 * _D * a[3] * b[3] % _P, 2 * a[2] * b[2] % _P
    e, f, g, h = yb - ya, d - c, d + c, yb + ya
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _pt_mul(scalar: int, point: Point) -> Point:
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _pt_add(result, point)
        point = _pt_add(point, point)
        scalar >>= 1
    return result


def _pt_decode(data: bytes) -> Optional[Point]:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P or (x == 0 and sign):
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _pt_equal(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


_BASE = _pt_decode((4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little"))


def ed25519_verify(public_key: bytes, message: bytes, sig: bytes) -> bool:
    """True only if `sig` is a valid Ed25519 signature of `message` by `public_key`."""
    if len(sig) != 64 or _BASE is None:
        return False
    point_a, point_r = _pt_decode(public_key), _pt_decode(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if point_a is None or point_r is None or s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + public_key + message).digest(), "little") % _L
    return _pt_equal(_pt_mul(s, _BASE), _pt_add(point_r, _pt_mul(k, point_a)))


# ---- arguments ----
def read_param_file(path: str) -> Dict[str, str]:
    """`NAME=value` lines (parameters kept off the command line: the pool token), at most 64 KiB."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PARAM_FILE + 1)
    except OSError as exc:
        raise PilotFailure("Config", "-param_file %s: %s" % (path, exc.strerror), "arguments") from None
    if len(data) > MAX_PARAM_FILE:
        raise PilotFailure(
            "Config", "-param_file %s: larger than %d bytes" % (path, MAX_PARAM_FILE), "arguments"
        )
    params = {}
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        name, sep, value = line.partition("=")
        if line.strip() and (not sep or not name.isidentifier()):
            raise PilotFailure(
                "Config", "-param_file %s line %d: expected NAME=value" % (path, number), "arguments"
            )
        if sep:
            params[name] = value
    return params


def parse_args(argv: List[str]) -> Tuple[Dict[str, str], Dict[str, str]]:
    """`-name value` pairs -> (options, params); params come from `-param_<NAME> value`."""
    opts: Dict[str, str] = dict(DEFAULTS)
    params: Dict[str, str] = {}
    known = {"factory", "name", "entry", "clientname", "schedd", "signkey", "pilot_id", "report_url"}
    known.update(["report_token", "param_file", *DEFAULTS])
    known.update(arg for level in LEVELS for arg in level[1:])
    i = 0
    while i < len(argv):
        key = argv[i]
        if not key.startswith("-") or i + 1 >= len(argv):
            raise PilotFailure("Config", "argument %r: expected -name value" % key, "arguments")
        name, value = key[1:], argv[i + 1]
        if name != "param_file" and name.startswith("param_") and len(name) > 6:
            params[name[6:]] = value
        elif name in known:
            opts[name] = value
        else:
            raise PilotFailure("Config", "unknown argument %s" % key, "arguments")
        i += 2
    if opts.get("param_file"):
        from_file = read_param_file(opts.pop("param_file"))
        if "report_token" in from_file:  # the factory keeps it off the command line too
            opts["report_token"] = from_file.pop("report_token")
        params.update(from_file)
    for required in ("factory", "name", "entry", "web", "sign", "descript"):
        if not opts.get(required):
            raise PilotFailure("Config", "missing argument -%s" % required, "arguments")
    if opts["signtype"] not in ("sha1", "sha256"):
        raise PilotFailure("Config", "-signtype must be sha1 or sha256", "arguments")
    for name in ("hold_time", "retries"):
        if not opts[name].isdigit():
            raise PilotFailure("Config", "-%s must be a whole number: %r" % (name, opts[name]), "arguments")
    return opts, params


# ---- log streamed back to the factory ----
class Reporter:
    """Writes the pilot log locally and POSTs it in batches to `<report_url>/pilots/<id>/log`."""

    def __init__(self, opts: Dict[str, str], interval: float = 1.0) -> None:
        self.debug = opts.get("v") == "dbg"
        self.base = ""
        if opts.get("report_url", "").startswith(("http://", "https://")) and opts.get("pilot_id"):
            self.base = "%s/pilots/%s" % (opts["report_url"].rstrip("/"), opts["pilot_id"])
        self.token = opts.get("report_token", "")
        self.pending: List[str] = []
        self.local: Optional[str] = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.warned = False
        self.thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
        if self.base:
            self.thread.start()

    def log(self, message: str, debug: bool = False) -> None:
        if debug and not self.debug:
            return
        line = "%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), message)
        sys.stderr.write(line)
        with self.lock:
            self.pending.append(line)
            if self.local:
                with open(self.local, "a") as handle:
                    handle.write(line)

    def _post(self, what: str, body: bytes, ctype: str) -> bool:
        request = urllib.request.Request(self.base + "/" + what, data=body, method="POST")  # noqa: S310
        request.add_header("Content-Type", ctype)
        request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - http(s) checked
                resp.read()
            return True
        except (OSError, ValueError) as exc:
            if not self.warned:
                self.warned = True
                sys.stderr.write("report to factory failed (%s); keeping the log locally\n" % exc)
            return False

    def flush(self) -> None:
        """Send what was logged since the last flush; on failure keep it (up to 1 MB) for the next."""
        with self.lock:
            text, self.pending = "".join(self.pending), []
        if text and self.base and not self._post("log", text.encode("utf-8", "replace"), "text/plain"):
            with self.lock:
                self.pending.insert(0, text[-(1 << 20) :])

    def _loop(self, interval: float) -> None:
        while not self.stop.wait(interval):
            self.flush()

    def final(self, report: Dict[str, Any]) -> None:
        self.stop.set()
        self.flush()
        if self.base:
            self._post("report", json.dumps(report).encode(), "application/json")
        for hook in FINAL_HOOKS:
            hook(report, self.local)


# ---- download and verification ----
def digest(algorithm: str, data: bytes) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def _read_capped(resp: Any, url: str, limit: int) -> bytes:
    """The body, or Corruption as soon as it (or its Content-Length) exceeds `limit` bytes."""
    length = resp.headers.get("Content-Length") or ""
    too_long = length.isdigit() and int(length) > limit
    data = b"" if too_long else resp.read(limit + 1)
    if too_long or len(data) > limit:
        raise PilotFailure("Corruption", "%s: larger than %d bytes" % (url, limit), "download")
    return bytes(data)


def fetch(url: str, retries: int, log: Reporter, timeout: float = 30.0, limit: int = MAX_LISTING) -> bytes:
    """GET at most `limit` bytes with timeout and exponential back-off; proxies from http(s)_proxy."""
    if not url.startswith(SCHEMES):
        raise PilotFailure("Config", "URL %s: only http and https are supported" % url, "download")
    delay = 1.0
    for attempt in range(retries + 1):
        log.log("GET %s" % url, debug=True)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked
                return _read_capped(resp, url, limit)
        except urllib.error.HTTPError as exc:
            error = "HTTP %s" % exc.code
            if exc.code in (403, 404, 410):
                break
        except (OSError, ValueError) as exc:
            error = str(exc)
        log.log("download %s failed (attempt %d): %s" % (url, attempt + 1, error))
        if attempt < retries:
            time.sleep(delay * (1 + random.random() / 2))
            delay *= 2
    raise PilotFailure("Network", "cannot download %s: %s" % (url, error), "download")


def parse_signature(data: bytes, where: str) -> List[Tuple[str, str]]:
    """`<hex>  <name>` lines -> [(name, hash)]; the first one is the description file."""
    pairs = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise PilotFailure("Corruption", "%s line %d: expected '<hash> <name>'" % (where, number))
        pairs.append((parts[1], parts[0].lower()))
    if not pairs:
        raise PilotFailure("Corruption", "%s lists no files" % where)
    return pairs


def load_level(level: str, args: Tuple[str, str, str], opts: Dict[str, str], log: Reporter) -> List[Any]:
    """Download and verify one level; returns [(file entry, bytes)] in described order."""
    web, sign, descript = (a.rstrip("/") for a in args)
    algo, retries = opts["signtype"], int(opts["retries"])
    parts = descript.split(".")
    if len(parts) < 3 or "/" in descript:
        raise PilotFailure("Config", "%s: description %r is not description.<hash>.json" % (level, descript))
    sig_name = "signature.%s.txt" % parts[1]
    sig_data = fetch(web + "/" + sig_name, retries, log)
    if digest(algo, sig_data) != sign.lower():
        raise PilotFailure("Corruption", "%s: %s hash differs from -sign" % (level, sig_name), "verify")
    if opts.get("signkey"):
        ed_sig = fetch(web + "/signature.%s.ed25519" % parts[1], retries, log)
        if not ed25519_verify(base64.b64decode(opts["signkey"]), sig_data, ed_sig):
            raise PilotFailure("Corruption", "%s: bad Ed25519 signature of %s" % (level, sig_name), "verify")
    listing = parse_signature(sig_data, sig_name)
    hashes = dict(listing)
    if listing[0][0] != descript:
        raise PilotFailure("Corruption", "%s: %s does not sign %s" % (level, sig_name, descript), "verify")
    desc = json.loads(verified(web, descript, hashes, opts, log).decode("utf-8"))
    files = sorted(desc.get("files", []), key=lambda f: int(f.get("order", 0)))
    out = []
    for entry in files:
        names = [entry.get(key) for key in ("name", "orig", "dir") if key == "name" or entry.get(key)]
        if entry.get("kind") not in KINDS or not all(safe_name(name) for name in names):
            raise PilotFailure(
                "Corruption", "%s: bad file entry %r in %s" % (level, entry, descript), "verify"
            )
        entry["level"] = level
        limit = MAX_TARBALL if entry["kind"] in ("untar", "startd_bundle") else MAX_FILE
        out.append((entry, verified(web, entry["name"], hashes, opts, log, limit)))
    log.log("verified level %s: %d files (%s)" % (level, len(out), algo))
    return out


def safe_name(name: object) -> bool:
    """A plain file name: no path separator, not `.`/`..`, so it stays in the work dir."""
    return isinstance(name, str) and name not in ("", ".", "..") and not set("/\\\0") & set(name)


def verified(  # noqa: PLR0917 - one call site
    web: str, name: str, hashes: Dict[str, str], opts: Dict[str, str], log: Reporter, limit: int = MAX_LISTING
) -> bytes:
    if name not in hashes:
        raise PilotFailure("Corruption", "%s is not listed in the signature file" % name, "verify")
    data = fetch(web + "/" + name, int(opts["retries"]), log, limit=limit)
    if digest(opts["signtype"], data) != hashes[name]:
        raise PilotFailure("Corruption", "%s: hash mismatch" % name, "verify")
    return data


# ---- glidein_config ----
def read_config(path: str) -> Dict[str, str]:
    """Key-value lines `KEY value`; a later line wins."""
    values: Dict[str, str] = {}
    with open(path) as handle:
        for line in handle:
            parts = line.rstrip("\n").split(" ", 1)
            if parts[0] and not parts[0].startswith("#"):
                values[parts[0]] = parts[1] if len(parts) > 1 else ""
    return values


def add_config(path: str, values: Dict[str, str]) -> None:
    with open(path, "a") as handle:
        for key in sorted(values):
            handle.write("%s %s\n" % (key, str(values[key]).replace("\n", " ")))


def initial_config(opts: Dict[str, str], params: Dict[str, str], work: str) -> Dict[str, str]:
    values = {k: v for k, v in params.items() if k not in SECRET_PARAMS}
    values.update(
        GLIDEIN_Factory=opts["factory"],
        GLIDEIN_Name=opts["name"],
        GLIDEIN_Entry_Name=opts["entry"],
        GLIDEIN_Client=opts.get("clientname", ""),
        GLIDEIN_Pilot_ID=opts.get("pilot_id", ""),
        GLIDEIN_WORK_DIR=work,
        GLIDEIN_RESULTS_DIR=os.path.join(work, "results"),
        GLIDEIN_LIB_DIR=os.path.join(work, "lib"),
        GLIDEIN_PYTHON=sys.executable,
    )
    if "GLIDEIN_Token" in params:
        token_file = os.path.join(work, "pool.token")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(params["GLIDEIN_Token"].strip() + "\n")
        values["GLIDEIN_Token_File"] = token_file
    return values


# ---- running the files ----
def safe_extract(data: bytes, target: str, name: str) -> None:
    """Files, directories and symlinks that stay inside `target` (modes kept, at most 0755)."""
    import io

    root = os.path.realpath(target)

    def inside(path: str) -> bool:
        return path == root or path.startswith(root + os.sep)

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            path = os.path.normpath(os.path.join(root, member.name))
            link = os.path.normpath(os.path.join(os.path.dirname(path), member.linkname))
            kind_ok = member.isfile() or member.isdir() or (member.issym() and inside(link))
            if not inside(path) or not kind_ok:
                raise PilotFailure("Corruption", "%s: unsafe member %s" % (name, member.name), "untar")
            if member.isdir():
                os.makedirs(path, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not inside(os.path.realpath(os.path.dirname(path))):  # through a symlinked dir
                raise PilotFailure("Corruption", "%s: %s leaves the dir" % (name, member.name), "untar")
            if os.path.lexists(path):
                os.remove(path)
            if member.issym():
                os.symlink(member.linkname, path)
                continue
            with open(path, "wb") as out:
                out.write(archive.extractfile(member).read())  # type: ignore[union-attr]
            os.chmod(path, member.mode & 0o755 or 0o644)


def script_env(config: str, work: str, result_file: str) -> Dict[str, str]:
    env = dict(os.environ)
    lib = os.path.join(work, "lib")
    env["PYTHONPATH"] = lib + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(GLIDEIN_CONFIG=config, GLIDEIN_RESULT_FILE=result_file)
    return env


def run_exec(entry: Dict[str, Any], path: str, config: str, work: str, log: Reporter) -> Dict[str, Any]:
    """Run one script; a non-zero exit is a failure classed by its result JSON."""
    orig = entry.get("orig") or entry["name"]
    stem = orig.split(".", 1)[0]
    result_file = os.path.join(work, "results", stem + ".json")
    # Python files run stdlib-only (-S: no site-packages, fast start); others by their shebang.
    argv = [sys.executable, "-S", path, config] if path.endswith(".py") else [path, config]
    os.chmod(path, 0o700)
    timeout = float(entry.get("timeout") or 600)
    start = time.time()
    try:
        proc = subprocess.run(
            argv, cwd=work, env=script_env(config, work, result_file), timeout=timeout,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
        code, output = proc.returncode, proc.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        code, output = -1, "timed out after %.0f s" % timeout
    for line in output.splitlines()[-40:]:
        log.log("  [%s] %s" % (orig, line))
    result = {"id": stem, "exit_code": code, "seconds": round(time.time() - start, 3)}
    if os.path.exists(result_file):
        with open(result_file) as handle:
            result.update(json.load(handle))
    result.setdefault("status", "OK" if code == 0 else "ERROR")
    if code != 0 or result["status"] != "OK":
        default = "VO_Config" if entry["level"] in ("client", "group") else "Config"
        cls = result.get("failure") or default
        if cls not in FAILURE_CODES or cls == KILLED:
            cls = default
        tail = "\n".join(output.splitlines()[-40:])[-4000:]
        detail = result.get("detail") or output.strip()[-300:]
        raise PilotFailure(cls, "%s failed: %s" % (orig, detail), orig, tail)
    return result


def stage_file(entry: Dict[str, Any], data: bytes, config: str, work: str, log: Reporter) -> Any:
    """Put one verified file in place per its kind; exec files run at once."""
    kind, name = entry["kind"], entry["name"]
    orig = os.path.basename(entry.get("orig") or name)
    path = os.path.join(work, name)
    with open(path, "wb") as handle:
        handle.write(data)
    log.log("%s %s (%s, level %s)" % ("running" if kind == "exec" else "placing", orig, kind, entry["level"]))
    if kind == "exec":
        return run_exec(entry, path, config, work, log)
    if kind == "source":
        os.replace(path, os.path.join(work, "lib", orig))
    elif kind == "config":
        with open(config, "a") as handle:
            handle.write(data.decode("utf-8").rstrip("\n") + "\n")
    elif kind == "untar":
        target = os.path.join(work, os.path.basename(entry.get("dir") or orig.split(".")[0]))
        safe_extract(data, target, orig)
        add_config(config, {"GLIDEIN_UNTAR_DIR_" + os.path.basename(target): target})
    else:
        target = os.path.join(work, "startd_bundle")
        safe_extract(data, target, orig)
        add_config(config, {"GLIDEIN_STARTD_BUNDLE": target})
    return None


# ---- the startd ----
def startd_command(cfg: Dict[str, str], work: str) -> Tuple[List[str], Dict[str, str]]:
    env = dict(os.environ)
    if cfg.get("GLIDEIN_STARTD_MODE", "embedded") == "condor":  # condor_launch.py runs condor_master
        launcher, env["CONDOR_CONFIG"] = cfg.get("GLIDEIN_STARTD_LAUNCHER"), cfg.get("CONDOR_CONFIG", "")
        if not launcher or not env["CONDOR_CONFIG"]:
            raise PilotFailure("Config", "condor mode: no CONDOR_CONFIG or launcher (startd_setup)", "startd")
        return [sys.executable, "-S", launcher, os.path.join(work, "glidein_config")], env
    bundle, path = cfg.get("GLIDEIN_STARTD_BUNDLE"), cfg.get("GLIDEIN_STARTD_CONFIG")
    if not bundle or not path:
        raise PilotFailure("Config", "no startd bundle or startd config (startd_setup) was staged", "startd")
    env["PYTHONPATH"] = bundle
    return [sys.executable, "-S", "-m", "glidein.pool.startd", "--config", path], env


def die_with_parent(signum: int) -> Any:
    """A preexec_fn: the child gets `signum` when the wrapper dies (Linux prctl); None elsewhere."""
    try:
        import ctypes

        prctl, parent = ctypes.CDLL(None, use_errno=True).prctl, os.getpid()
    except (OSError, AttributeError, ImportError):
        return None

    def preexec() -> None:
        prctl(1, int(signum), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the wrapper died before prctl
            os.kill(os.getpid(), signum)

    return preexec if sys.platform.startswith("linux") else None


def kill_job_groups(records: str) -> List[int]:
    """SIGKILL the recorded job process groups that are still live sessions (pgid == sid)."""
    try:
        pgids = {int(name) for name in os.listdir(records) if name.isdigit()}
    except OSError:
        return []
    sessions = set()
    for name in os.listdir("/proc") if pgids else []:
        try:
            with open("/proc/%s/stat" % name) as handle:
                fields = handle.read().rsplit(")", 1)[-1].split()  # state ppid pgrp session ...
        except OSError:
            continue
        if len(fields) > 3 and fields[2] == fields[3]:
            sessions.add(int(fields[2]))
    killed = sorted(pgids & sessions - {os.getpgrp(), os.getsid(0)})
    for pgid in killed:
        with contextlib.suppress(OSError):  # it may have ended since
            os.killpg(pgid, signal.SIGKILL)
    return killed


def startd_end(startd: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """None for a normal end, else (failure class, message). Ended by a signal (the startd, or
    condor_master: -N or 128+N) after it ran is Killed; any other non-zero exit is Config."""
    code, master = startd.get("exit_code"), startd.get("master_exit")
    if code == 0:
        return None
    signum = -code if isinstance(code, int) and code < 0 else 0
    if not signum and isinstance(master, int) and (master < 0 or 128 < master <= 192):
        signum = -master if master < 0 else master - 128
    seconds = float(startd.get("seconds") or 0)
    if signum and seconds >= KILLED_AFTER:
        return KILLED, "startd killed by signal %d after %.0f s" % (signum, seconds)
    return "Config", "startd exited with %s" % code


class Pilot:
    """One pilot run: set up, verify, run files, start the startd, report."""

    def __init__(self, opts: Dict[str, str], params: Dict[str, str], log: Reporter) -> None:
        self.opts, self.params, self.log = opts, params, log
        self.work, self.config = "", ""
        self.results: List[Dict[str, Any]] = []
        self.startd: Optional[Dict[str, Any]] = None
        self.terminated = False

    def setup(self) -> None:
        base = work_base(self.opts["dir"])  # the work dir in it is private: 0700
        proxy = http_proxy(self.params.get("GLIDEIN_Proxy_URL", ""), dict(os.environ))
        if proxy:  # urllib's downloads use it
            os.environ["http_proxy"] = proxy
        try:
            os.makedirs(base, exist_ok=True)
            self.work = tempfile.mkdtemp(prefix="glide_", dir=base)  # unique, mode 0700
            for sub in ("results", "lib"):
                os.makedirs(os.path.join(self.work, sub), exist_ok=True)
        except OSError as exc:
            message = "cannot create work dir in %s: %s" % (base, exc)
            raise PilotFailure("WN_Resource", message, "setup") from None
        self.log.local = os.path.join(self.work, "pilot.log")
        self.config = os.path.join(self.work, "glidein_config")
        add_config(self.config, initial_config(self.opts, self.params, self.work))
        self.log.log("pilot %s work dir %s" % (self.opts.get("pilot_id", "-"), self.work))

    def run(self) -> None:
        self.setup()
        staged: List[Any] = []
        for level, web_arg, sign_arg, desc_arg in LEVELS:
            if self.opts.get(sign_arg) and self.opts.get(desc_arg):
                args = (self.opts.get(web_arg) or "", self.opts[sign_arg], self.opts[desc_arg])
                if not args[0]:
                    raise PilotFailure("Config", "-%s given without -%s" % (sign_arg, web_arg), "arguments")
                staged.extend(load_level(level, args, self.opts, self.log))
        rank = {level[0]: index for index, level in enumerate(LEVELS)}
        staged.sort(key=lambda item: (int(item[0].get("order", 0)), rank[item[0]["level"]]))
        for entry, data in staged:
            result = stage_file(entry, data, self.config, self.work, self.log)
            if result is not None:
                self.results.append(result)
                self.log.log("RESULT " + json.dumps(result, sort_keys=True))
        if self.terminated:
            raise PilotFailure(KILLED, "terminated by SIGTERM before the startd started", "signal")
        self.run_startd([(e, d) for e, d in staged if e["kind"] == "exec" and int(e.get("period") or 0) > 0])

    def run_startd(self, periodic: List[Any]) -> None:
        argv, env = startd_command(read_config(self.config), self.work)
        self.log.log("starting startd: %s" % " ".join(argv))
        started = time.time()
        with open(os.path.join(self.work, "startd.log"), "ab") as out:
            proc = subprocess.Popen(
                argv, cwd=self.work, env=env, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - it only calls prctl
            )  # fmt: skip
        failure = self.watch_startd(proc, periodic, started)
        self.startd = {"exit_code": proc.returncode, "seconds": round(time.time() - started, 3)}
        result_path = os.path.join(self.work, "execute", "startd_result.json")
        if os.path.exists(result_path):
            with open(result_path) as handle:
                self.startd.update(json.load(handle))
        self.log.log("startd ended: %s" % json.dumps(self.startd, sort_keys=True))
        left = kill_job_groups(os.path.join(self.work, JOB_PGIDS))
        if left:
            self.log.log("killed the process groups %s of jobs the startd left" % left)
        self.flush_results(argv, env)
        if failure is not None:
            raise failure
        ended = None if self.terminated else startd_end(self.startd)
        if self.terminated:
            self.log.log("terminated by SIGTERM while the startd ran")
        elif ended is not None:
            with open(os.path.join(self.work, "startd.log"), errors="replace") as handle:
                for line in handle.read().splitlines()[-60:]:
                    self.log.log("  [startd] " + line)
            raise PilotFailure(ended[0], ended[1], "startd")

    def flush_results(self, argv: List[str], env: Dict[str, str]) -> None:
        """Job results a killed embedded startd left (execute/results) are sent by `startd --flush`."""
        execute = os.path.join(self.work, "execute")
        spool = os.path.join(execute, "results")
        left = len(os.listdir(spool)) if os.path.isdir(spool) else 0
        left += len(glob.glob(os.path.join(execute, "dir_*", ".exit_code")))  # ended, never seen
        if "--config" not in argv or not left:
            return
        self.log.log("the startd left %d job results: sending them" % left)
        with open(os.path.join(self.work, "startd.log"), "ab") as out:
            try:
                flush = [*argv, "--flush"]
                subprocess.call(flush, cwd=self.work, env=env, stdout=out, stderr=out, timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.log.log("sending the results took over %.0f s: stopped" % STOP_TIMEOUT)

    def watch_startd(self, proc: Any, periodic: List[Any], started: float) -> Optional[PilotFailure]:
        """Wait for the startd; periodic scripts run meanwhile, SIGTERM or their failure stop it."""
        next_run = {e["name"]: started + int(e["period"]) for e, _ in periodic}
        failure: Optional[PilotFailure] = None
        stop_at = 0.0
        while proc.poll() is None:
            time.sleep(0.2)
            for entry, _ in periodic:
                if failure is None and time.time() >= next_run[entry["name"]]:
                    next_run[entry["name"]] = time.time() + int(entry["period"])
                    failure = self.run_periodic(entry)
            if (self.terminated or failure is not None) and not stop_at:
                stop_at = time.time()
                proc.terminate()
            elif stop_at and time.time() - stop_at > STOP_TIMEOUT:
                proc.kill()
        return failure

    def run_periodic(self, entry: Dict[str, Any]) -> Optional[PilotFailure]:
        """Re-run a periodic script while the startd runs; its failure stops the startd."""
        try:
            path = os.path.join(self.work, entry["name"])
            self.results.append(run_exec(entry, path, self.config, self.work, self.log))
        except PilotFailure as exc:
            self.log.log("periodic %s failed: %s; stopping the startd" % (entry["name"], exc))
            return exc
        return None


def own_interpreter() -> str:
    """This interpreter's path: sys.executable is empty when python3 was started with no PATH
    (HTCondor's local universe runs `#!/usr/bin/env python3` jobs so), yet scripts and the startd
    are started with it."""
    if sys.executable:
        return sys.executable
    found = os.path.realpath("/proc/self/exe") if os.path.exists("/proc/self/exe") else ""
    return found or "/usr/bin/python3"


def main(argv: List[str]) -> int:
    sys.executable = own_interpreter()
    opts: Dict[str, str] = {}
    try:
        opts, params = parse_args(argv)
    except PilotFailure as exc:
        sys.stderr.write("glidein_startup: %s\n" % exc)
        return FAILURE_CODES[exc.failure_class]
    log = Reporter(opts)
    pilot = Pilot(opts, params, log)

    def on_term(signum: int, frame: Any) -> None:
        pilot.terminated = True

    signal.signal(signal.SIGTERM, on_term)
    report: Dict[str, Any] = {"pilot_id": opts.get("pilot_id", ""), "status": "success"}
    report["failure_class"] = None
    try:
        pilot.run()
        done = pilot.startd or {}
        message = "startd ran %s jobs, ended normally" % done.get("jobs_run", "its")
        report.update(exit_code=0, message=message + " (%s)" % done.get("reason", "exit 0"), step="startd")
    except PilotFailure as exc:
        report.update(status="failure", failure_class=exc.failure_class, step=exc.step, message=exc.message)
        report.update(exit_code=FAILURE_CODES[exc.failure_class], output=exc.output)
    except Exception as exc:  # any bug must still produce a report
        report.update(status="failure", failure_class="Config", step="wrapper", message=repr(exc))
        report["exit_code"] = FAILURE_CODES["Config"]
    report.update(results=pilot.results, startd=pilot.startd, time=time.time())
    log.log("FINAL %s: %s" % (report["status"], report.get("message")))
    log.final(report)
    code = int(report["exit_code"])
    if code and report["failure_class"] != KILLED:  # a killed startd is no black hole
        deadline = time.time() + float(opts.get("hold_time", DEFAULTS["hold_time"]))
        log.log("holding the node for %.0f s before exiting %d" % (deadline - time.time(), code))
        while time.time() < deadline and not pilot.terminated:
            time.sleep(min(1.0, max(0.0, deadline - time.time())))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
