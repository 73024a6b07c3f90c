"""The demo's directory: free loopback ports, keys, configs from `etc/demo/`, the stage, the jobs.

Everything the demo writes lives under one directory (a new temporary one unless `--dir`):

    keys/       pool.key, factory/frontend/stage signing keys (0600)
    factory.yaml, frontend.yaml      rendered from etc/demo/*.yaml
    factory/    the factory's state (bookkeeping, stage, pilot reports, monitor/ RRDs)
    frontend/   the frontend's state
    schedd/     the schedd's queue
    jobs/       jobs.sub, job.sh and out/job.N.out
    logs/       one log per process
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import string
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from glidein.common import crypto, tokens
from glidein.common.errors import ConfigError
from glidein.demo import condor
from glidein.pool.condor.release import Release

TEMPLATES = Path(__file__).resolve().parent.parent / "etc" / "demo"
_QUEUE_COUNT = re.compile(r"^queue[ \t]+\d+[ \t]*$", re.MULTILINE | re.IGNORECASE)
PORTS = ("wms", "pool", "schedd", "stage", "monitor", "frontend_monitor", "factory_schedd", "ce")


@dataclass
class DemoLayout:
    root: Path
    jobs: int
    ports: dict[str, int] = field(default_factory=dict)
    slurm: bool = False
    condor: Release | None = None  # real HTCondor daemons (`--htcondor`), else the embedded pool

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def factory_config(self) -> Path:
        return self.root / "factory.yaml"

    @property
    def frontend_config(self) -> Path:
        return self.root / "frontend.yaml"

    @property
    def factory_state(self) -> Path:
        return self.root / "factory"

    @property
    def schedd_state(self) -> Path:
        return self.root / "schedd"

    @property
    def job_dir(self) -> Path:
        return self.root / "jobs"

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def url(self, name: str) -> str:
        return f"http://{self.address(name)}"


def free_ports(names: tuple[str, ...]) -> dict[str, int]:
    """Distinct TCP ports free on 127.0.0.1 now (all sockets held open until every port is chosen)."""
    socks = []
    try:
        for _ in names:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return {name: int(sock.getsockname()[1]) for name, sock in zip(names, socks, strict=True)}
    finally:
        for sock in socks:
            sock.close()


def slurm_available(timeout: float = 5.0) -> bool:
    """True when $SLURM_CONF is set and its controller answers `squeue` (see scripts/slurm_up.sh)."""
    if not os.environ.get("SLURM_CONF") or not (shutil.which("squeue") and shutil.which("sbatch")):
        return False
    try:
        run = subprocess.run(["squeue", "-h"], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


def render(template: str, values: dict[str, str], where: str) -> str:
    text = string.Template(template).safe_substitute(values)
    if "${" in text:
        start = text.index("${")
        raise ConfigError(f"{where}: unknown template value {text[start : text.index('}', start) + 1]}")
    return text


def with_queue_count(text: str, jobs: int, where: str) -> str:
    """The submit description `text` (one `queue N` statement) with `queue <jobs>` instead."""
    found = _QUEUE_COUNT.findall(text)
    if len(found) != 1:
        raise ConfigError(f"{where}: needs exactly one `queue N` line (the demo sets N), found {len(found)}")
    return _QUEUE_COUNT.sub(f"queue {jobs}", text)


def _write_key(path: Path, key: crypto.PrivateKey) -> str:
    crypto.save_private_key(key, path)
    return crypto.public_key_b64(key)


def embedded_values(layout: DemoLayout) -> dict[str, str]:
    """Template values of the embedded pool: glidein's own schedd and pool tokens."""
    schedd = f"http://127.0.0.1:{layout.ports['schedd']}"
    tokens.generate_key(layout.keys / "pool.key")
    return {
        "factory_bus": "",
        "factory_staging": "",
        "condor_entries": "",
        "frontend_bus": "",
        "frontend_schedds": f'schedds:\n  - {{name: demo_schedd, type: embedded, url: "{schedd}"}}\n'
        "discover_schedds: false",
        "credential_type": "token",
        "credential_key": str(layout.keys / "pool.key"),
        "group_params": f'      GLIDEIN_Schedd: "{schedd}"\n',
        "frontend_identity": "demo_frontend@localhost",  # glidein's collector authenticates nobody
    }


def prepare(root: Path, jobs: int, use_slurm: bool, release: Release | None = None) -> DemoLayout:
    """Create the demo directory: keys, configs, jobs (the stage is written by `stage`)."""
    layout = DemoLayout(root.resolve(), jobs, free_ports(PORTS), use_slurm, release)
    for sub in ("keys", "logs", "factory", "frontend", "schedd", "jobs/out"):
        (layout.root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(layout.keys, 0o700)
    mode = embedded_values(layout) if release is None else condor.template_values(layout, release)
    factory_pub = _write_key(layout.keys / "factory_signing.pem", crypto.generate_signing_key())
    crypto.save_private_key(crypto.generate_box_key(), layout.keys / "factory_box.pem")
    crypto.save_private_key(crypto.generate_signing_key(), layout.keys / "stage_signing.pem")
    frontend_pub = _write_key(layout.keys / "frontend_signing.pem", crypto.generate_signing_key())
    values = {f"{name}_port": str(port) for name, port in layout.ports.items()}
    slurm_entry = (TEMPLATES / "slurm_entry.yaml").read_text() if use_slurm else ""
    values.update(
        dir=str(layout.root),
        factory_pub=factory_pub,
        frontend_pub=frontend_pub,
        pilot_cpus=str(min(4, len(os.sched_getaffinity(0)))),
        slurm_entry=slurm_entry,
        **mode,
    )
    for name, dest in (("factory.yaml", layout.factory_config), ("frontend.yaml", layout.frontend_config)):
        source = TEMPLATES / name
        dest.write_text(render(source.read_text(), values, str(source)))
    jobs_sub = TEMPLATES / "jobs.sub"
    (layout.job_dir / "jobs.sub").write_text(with_queue_count(jobs_sub.read_text(), jobs, str(jobs_sub)))
    shutil.copy(TEMPLATES / "job.sh", layout.job_dir / "job.sh")
    os.chmod(layout.job_dir / "job.sh", 0o700)
    if release is not None:
        condor.share_job_dir(layout.root, layout.job_dir)
    return layout


def expected_output(proc: int) -> str:
    """What job `proc` of etc/demo/jobs.sub prints (etc/demo/job.sh)."""
    return f"demo job {proc}: {proc * proc}\n"
