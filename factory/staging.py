"""The factory's web staging area: content-addressed files, descriptions, hash-chained signatures.

Per level (main, entry `<name>`, client `<frontend>`, group `<frontend>.<group>`) a stage writes:

* every file as `name.<hash>.ext` (content-addressed, so a new stage only adds files);
* `description.<hash>.json`: `{"format": 1, "level", "hash_algorithm", "files": [{"name", "orig",
  "kind", "order", "period", "timeout", "dir"}]}` with kind exec | source | config | untar |
  startd_bundle; `order` is global: the pilot runs the files of all levels by order (ties: main,
  entry, client, group), so an entry's constants (order 1) precede the main checks (10+);
* `signature.<D>.txt` (D: the description's hash, so the pilot finds it from `-descript*`):
  `<hex>  <name>` lines, the description first, then every file; the hash of this signature
  file is the level's `-sign*` pilot argument (a wrong one is refused as Corruption);
* with a signing key, `signature.<D>.ed25519`: raw Ed25519 signature of the signature file.

`stages.json` records every stage; files only older stages use are deleted once those stages are
older than the grace period, so pilots still downloading a previous stage keep working.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from glidein.common.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
WRAPPER_PATH = PACKAGE_ROOT / "pilot_wrapper" / "glidein_startup.py"
SCRIPTS_DIR = PACKAGE_ROOT / "pilot_wrapper" / "scripts"
HASH_ALGORITHMS = ("sha1", "sha256")
KINDS = ("exec", "source", "config", "untar", "startd_bundle")
RECORD_FILE = "stages.json"
CURRENT_FILE = "current.json"
# The node checks every pilot runs (main level, staged as modules, run in this order by one
# validate_node.py process), then the startd set-up.
DEFAULT_CHECKS = (
    "check_python.py",
    "check_disk.py",
    "check_memory.py",
    "check_cpus.py",
    "check_scratch.py",
    "check_network.py",
    "check_apptainer.py",
    "check_cvmfs.py",
)
# Helpers of startd_setup.py's condor mode (condor_config text, condor_master launcher).
CONDOR_HELPERS = ("condor_config.py", "condor_launch.py")
CONDOR_UNTAR_DIR = "condor"  # the wrapper records it as GLIDEIN_UNTAR_DIR_condor


@dataclass(frozen=True)
class StageFile:
    """One file to stage: where it is now, its kind and its place in the run order."""

    source: Path
    kind: str = "exec"
    order: int = 50
    period: int = 0
    timeout: int = 600
    untar_dir: str | None = None


@dataclass
class StagingSpec:
    """What to stage (built by the CLI from the factory config)."""

    stage_dir: Path
    web_url: str
    hash_algorithm: str = "sha256"
    signing_key: Path | None = None
    grace_period_s: int = 86400
    main: list[StageFile] = field(default_factory=list)
    constants: dict[str, str] = field(default_factory=dict)
    entries: dict[str, list[StageFile]] = field(default_factory=dict)
    entry_constants: dict[str, dict[str, str]] = field(default_factory=dict)
    clients: dict[str, list[StageFile]] = field(default_factory=dict)
    groups: dict[str, list[StageFile]] = field(default_factory=dict)
    default_files: bool = True
    startd_source: Path = PACKAGE_ROOT
    condor_tarball: Path | None = None


@dataclass(frozen=True)
class LevelStage:
    level: str
    sign: str
    descript: str


@dataclass
class StageResult:
    """The hashes pilots need; `pilot_args` builds the staging part of the wrapper's arguments."""

    web_url: str
    hash_algorithm: str
    main: LevelStage
    entries: dict[str, LevelStage] = field(default_factory=dict)
    clients: dict[str, LevelStage] = field(default_factory=dict)
    groups: dict[str, LevelStage] = field(default_factory=dict)
    public_key: str | None = None
    time: float = 0.0

    def pilot_args(self, entry: str, client: str | None = None) -> list[str]:
        """`-web -sign -signtype -descript [-signentry ...] [-clientweb ...] [-signkey]` (contract 7)."""
        web = self.web_url
        args = ["-web", web, "-sign", self.main.sign, "-signtype", self.hash_algorithm]
        args += ["-descript", self.main.descript]
        if entry in self.entries:
            args += ["-signentry", self.entries[entry].sign, "-descriptentry", self.entries[entry].descript]
        frontend = client.split(".", 1)[0] if client else None
        if frontend and frontend in self.clients:
            lvl = self.clients[frontend]
            args += ["-clientweb", web, "-clientsign", lvl.sign, "-clientdescript", lvl.descript]
        if client and client in self.groups:
            lvl = self.groups[client]
            args += [
                "-clientwebgroup",
                web,
                "-clientsigngroup",
                lvl.sign,
                "-clientdescriptgroup",
                lvl.descript,
            ]
        if self.public_key:
            args += ["-signkey", self.public_key]
        return args

    def to_json(self) -> str:
        def level(stage: LevelStage) -> dict[str, str]:
            return {"level": stage.level, "sign": stage.sign, "descript": stage.descript}

        data = {
            "web_url": self.web_url,
            "hash_algorithm": self.hash_algorithm,
            "main": level(self.main),
            "entries": {k: level(v) for k, v in self.entries.items()},
            "clients": {k: level(v) for k, v in self.clients.items()},
            "groups": {k: level(v) for k, v in self.groups.items()},
            "public_key": self.public_key,
            "time": self.time,
        }
        return json.dumps(data, indent=1, sort_keys=True)


def load_result(stage_dir: Path) -> StageResult:
    """The current stage of `stage_dir` (written by `stage`)."""
    path = stage_dir / CURRENT_FILE
    try:
        data = json.loads(path.read_text())

        def level(raw: dict[str, str]) -> LevelStage:
            return LevelStage(raw["level"], raw["sign"], raw["descript"])

        return StageResult(
            web_url=data["web_url"],
            hash_algorithm=data["hash_algorithm"],
            main=level(data["main"]),
            entries={k: level(v) for k, v in data["entries"].items()},
            clients={k: level(v) for k, v in data["clients"].items()},
            groups={k: level(v) for k, v in data["groups"].items()},
            public_key=data.get("public_key"),
            time=float(data.get("time", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: no readable stage ({exc}); run `glidein factory stage`") from None


def digest(algorithm: str, data: bytes) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def addressed_name(orig: str, hexhash: str) -> str:
    """`check_disk.py` -> `check_disk.<hash>.py`; `bundle.tar.gz` -> `bundle.<hash>.tar.gz`."""
    stem, dot, ext = orig.partition(".")
    return f"{stem}.{hexhash}{dot}{ext}"


def startd_bundle(source_root: Path) -> bytes:
    """Reproducible tar.gz of the stdlib-only startd subset, paths `glidein/...` (contract 6)."""
    members = [source_root / "__init__.py", source_root / "pool" / "__init__.py"]
    members += [source_root / "pool" / "cedar.py"]
    members += sorted((source_root / "pool" / "startd").glob("*.py"))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in members:
            if not path.is_file():
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo("glidein/" + path.relative_to(source_root).as_posix())
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class _Writer:
    """Writes content-addressed files into the stage dir, remembering every name it used."""

    def __init__(self, stage_dir: Path, algorithm: str, signer: Callable[[bytes], bytes] | None) -> None:
        self.dir, self.algorithm, self.signer = stage_dir, algorithm, signer
        self.names: set[str] = set()

    def put(self, name: str, data: bytes) -> None:
        self.names.add(name)
        target = self.dir / name
        if target.exists() and target.read_bytes() == data:
            return
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)

    def level(self, level: str, files: Sequence[tuple[StageFile, str, bytes]]) -> LevelStage:
        """Stage one level: its files, its description, its signature (and Ed25519 signature)."""
        entries, lines = [], []
        for spec, orig, data in sorted(files, key=lambda item: item[0].order):
            name = addressed_name(orig, digest(self.algorithm, data))
            self.put(name, data)
            entries.append(
                {"name": name, "orig": orig, "kind": spec.kind, "order": spec.order, "period": spec.period}
                | {"timeout": spec.timeout, "dir": spec.untar_dir}
            )
            lines.append(f"{digest(self.algorithm, data)}  {name}\n")
        desc = {"format": 1, "level": level, "hash_algorithm": self.algorithm, "files": entries}
        desc_data = json.dumps(desc, indent=1, sort_keys=True).encode()
        desc_name = addressed_name("description.json", digest(self.algorithm, desc_data))
        self.put(desc_name, desc_data)
        signature = f"# glidein signature, level {level}, {self.algorithm}\n"
        signature += f"{digest(self.algorithm, desc_data)}  {desc_name}\n" + "".join(lines)
        sig_data = signature.encode()
        desc_hash = digest(self.algorithm, desc_data)
        self.put(f"signature.{desc_hash}.txt", sig_data)
        if self.signer is not None:
            self.put(f"signature.{desc_hash}.ed25519", self.signer(sig_data))
        sign = digest(self.algorithm, sig_data)
        return LevelStage(level, sign, desc_name)


def _read(spec: StageFile) -> tuple[StageFile, str, bytes]:
    if spec.kind not in KINDS:
        raise ConfigError(
            f"{spec.source}: unknown file kind {spec.kind!r} (expected one of {', '.join(KINDS)})"
        )
    try:
        return spec, spec.source.name, spec.source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{spec.source}: cannot read staged file: {exc.strerror}") from None


def _constants(values: dict[str, str]) -> list[tuple[StageFile, str, bytes]]:
    if not values:
        return []
    for key, value in values.items():
        if not key or any(c.isspace() for c in key) or "\n" in value:
            raise ConfigError(f"staging constant {key!r}: keys need no spaces, values one line")
    text = "".join(f"{key} {values[key]}\n" for key in sorted(values))
    return [(StageFile(Path("constants.cfg"), "config", order=1), "constants.cfg", text.encode())]


def default_main_files(spec: StagingSpec) -> list[tuple[StageFile, str, bytes]]:
    """The shipped validation scripts, their helpers, the startd bundle, the HTCondor tarball (if
    any: untarred into `condor/`, the release `startd_setup.py` uses in condor mode) and the startd
    set-up."""
    helpers = ("glidein_checks.py", *DEFAULT_CHECKS, *CONDOR_HELPERS)
    files = [_read(StageFile(SCRIPTS_DIR / script, "source", order=0)) for script in helpers]
    files.append(_read(StageFile(SCRIPTS_DIR / "validate_node.py", "exec", order=10, timeout=300)))
    bundle = StageFile(Path("startd_bundle.tar.gz"), "startd_bundle", order=90)
    files.append((bundle, "startd_bundle.tar.gz", startd_bundle(spec.startd_source)))
    if spec.condor_tarball is not None:
        files.append(_read(StageFile(spec.condor_tarball, "untar", order=92, untar_dir=CONDOR_UNTAR_DIR)))
    files.append(_read(StageFile(SCRIPTS_DIR / "startd_setup.py", "exec", order=95, timeout=60)))
    return files


def _signer(path: Path | None) -> tuple[Callable[[bytes], bytes] | None, str | None]:
    if path is None:
        return None, None
    from glidein.common import crypto

    key = crypto.load_signing_key(path)
    return key.sign, crypto.public_key_b64(key)


def stage(spec: StagingSpec, now: float | None = None) -> StageResult:
    """Write a new stage into `spec.stage_dir`, prune stages past the grace period, return hashes."""
    if spec.hash_algorithm not in HASH_ALGORITHMS:
        raise ConfigError(f"staging.hash_algorithm: {spec.hash_algorithm!r} is not sha1 or sha256")
    now = time.time() if now is None else now
    spec.stage_dir.mkdir(parents=True, exist_ok=True)
    signer, public = _signer(spec.signing_key)
    writer = _Writer(spec.stage_dir, spec.hash_algorithm, signer)
    main_files = default_main_files(spec) if spec.default_files else []
    main_files += _constants(spec.constants) + [_read(f) for f in spec.main]
    result = StageResult(spec.web_url, spec.hash_algorithm, writer.level("main", main_files))
    result.public_key, result.time = public, now
    for name in sorted(set(spec.entries) | set(spec.entry_constants)):
        files = _constants(spec.entry_constants.get(name, {})) + [
            _read(f) for f in spec.entries.get(name, [])
        ]
        result.entries[name] = writer.level(f"entry:{name}", files)
    for name, client_files in sorted(spec.clients.items()):
        result.clients[name] = writer.level(f"client:{name}", [_read(f) for f in client_files])
    for name, group_files in sorted(spec.groups.items()):
        result.groups[name] = writer.level(f"group:{name}", [_read(f) for f in group_files])
    writer.put(CURRENT_FILE, result.to_json().encode())
    prune(spec.stage_dir, writer.names, now, spec.grace_period_s)
    return result


def prune(stage_dir: Path, current: set[str], now: float, grace_s: int) -> list[str]:
    """Record this stage; delete files used only by stages older than the grace period."""
    record_path = stage_dir / RECORD_FILE
    try:
        records = json.loads(record_path.read_text()) if record_path.exists() else []
    except ValueError:
        records = []
    records.append({"time": now, "files": sorted(current)})
    kept = [r for r in records if now - float(r["time"]) <= grace_s or r is records[-1]]
    dropped = [r for r in records if not any(r is k for k in kept)]
    keep_names = {name for r in kept for name in r["files"]} | {RECORD_FILE, CURRENT_FILE}
    removed = sorted({n for r in dropped for n in r["files"]} - keep_names)
    for name in removed:
        (stage_dir / name).unlink(missing_ok=True)
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(kept, indent=1))
    os.replace(tmp, record_path)
    return removed
