"""Real processes of the embedded pool for one test: a schedd, startds from a stdlib-only bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from glidein.common import tokens
from glidein.pool.schedd.client import ScheddClient
from tests.procs import Processes, free_port, run_glidein, wait_for, wait_for_port

REPO = Path(__file__).resolve().parents[3]


def make_bundle(dest: Path) -> Path:
    """The stdlib-only startd bundle of docs/INTERFACES.md section 6, laid out as `glidein/...`."""
    root = dest / "glidein"
    (root / "pool" / "startd").mkdir(parents=True)
    shutil.copy(REPO / "__init__.py", root / "__init__.py")
    shutil.copy(REPO / "pool" / "__init__.py", root / "pool" / "__init__.py")
    shutil.copy(REPO / "pool" / "cedar.py", root / "pool" / "cedar.py")
    for path in (REPO / "pool" / "startd").glob("*.py"):
        shutil.copy(path, root / "pool" / "startd" / path.name)
    return dest


class Pool:
    def __init__(self, processes: Processes, tmp: Path, lease: float = 3.0) -> None:
        self.processes, self.tmp, self.lease = processes, tmp, lease
        self.state_dir = tmp / "schedd"
        self.key_file = tmp / "pool.key"
        tokens.generate_key(self.key_file)
        self.bundle = make_bundle(tmp / "bundle")
        self.port = free_port()
        self.env = {"GLIDEIN_SCHEDD_DIR": str(self.state_dir)}
        self.schedd: subprocess.Popen[bytes] | None = None
        self.startds: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_schedd(self, name: str = "schedd", extra: list[str] | None = None) -> None:
        args = ["schedd", "--port", str(self.port), "--state-dir", str(self.state_dir)]
        args += ["--pool-key", str(self.key_file), "--lease", str(self.lease), "--name", name, *(extra or [])]
        self.schedd = self.processes.glidein(args, "schedd")
        wait_for_port(self.port)

    def stop_schedd(self) -> int:
        assert self.schedd is not None
        return self.processes.stop(self.schedd)

    def client(self) -> ScheddClient:
        return ScheddClient.locate(None, str(self.state_dir))

    def glidein(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_glidein(list(args), env=self.env)

    def submit(self, text: str, name: str = "job.sub") -> subprocess.CompletedProcess[str]:
        path = self.tmp / name
        path.write_text(text)
        return self.glidein("submit", str(path))

    def queue(self, text: str) -> int:
        """Submit over the HTTP API (faster than the CLI where the CLI is not under test); the cluster id."""
        result = self.client().submit(text, "job.sub", str(self.tmp), "tester")
        return int(str(result["cluster"]))

    def token(self, subject: str, key: bytes | None = None, lifetime: int = 600) -> Path:
        path = self.tmp / f"token.{subject}"
        key = key if key is not None else tokens.load_key(self.key_file)
        path.write_text(tokens.mint(key, subject, ["startd"], lifetime, "test"))
        path.chmod(0o600)
        return path

    def startd(self, name: str, token: Path | None = None, **config: object) -> subprocess.Popen[bytes]:
        work = self.tmp / f"startd-{name}"
        work.mkdir()
        values: dict[str, object] = {
            "name": name,
            "collector": "",
            "schedd_url": self.url,
            "token_file": str(token or self.token(name)),
            "work_dir": str(work),
            "cpus": 1,
            "memory_mb": 2048,
            "disk_mb": 4096,
            "max_idle_time": 20,
            "max_tail_time": 2,
            "poll_interval": 0.3,
            "advertise_interval": 1,
        }
        values.update(config)
        (work / "startd.json").write_text(json.dumps(values))
        argv = [sys.executable, "-S", "-m", "glidein.pool.startd", "--config", str(work / "startd.json")]
        proc = self.processes.start(argv, f"startd-{name}", env={"PYTHONPATH": str(self.bundle)})
        self.startds[name] = proc
        return proc

    def result(self, name: str, timeout: float = 25.0) -> dict[str, object]:
        """Wait for startd `name` to exit 0 and return its startd_result.json."""
        proc = self.startds[name]
        proc.wait(timeout)
        assert proc.returncode == 0, self.processes.log(f"startd-{name}")
        data = json.loads((self.tmp / f"startd-{name}" / "startd_result.json").read_text())
        assert isinstance(data, dict)
        return data

    def jobs(self) -> dict[str, dict[str, object]]:
        """Every job (completed and removed too) by id, as Python values."""
        out: dict[str, dict[str, object]] = {}
        for job in self.client().jobs(include_done=True):
            out[f"{job['ClusterId']}.{job['ProcId']}"] = job
        return out

    def wait_jobs(self, predicate: object, timeout: float = 20.0) -> dict[str, dict[str, object]]:
        assert callable(predicate)
        wait_for(lambda: bool(predicate(self.jobs())), timeout=timeout, interval=0.2)
        return self.jobs()


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def elapsed(start: float) -> float:
    return time.monotonic() - start
