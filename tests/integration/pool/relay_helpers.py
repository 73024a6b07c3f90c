"""A real `glidein collector` and a real `glidein schedd` in relay mode, for one test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from glidein.common import tokens
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef, PilotSpec
from glidein.factory.submitters.relay import RelayParams, RelaySubmitter
from glidein.pool.schedd.relay import RelayOptions, relay_argv
from tests.procs import Processes, free_port, wait_for, wait_for_port

ENTRY, FACTORY = "site_a", "fact1"
FINAL = (PilotState.COMPLETED, PilotState.FAILED, PilotState.REMOVED)


class RelaySite:
    def __init__(
        self, processes: Processes, tmp: Path, submitter: dict[str, Any], max_per_cycle: int = 2
    ) -> None:
        self.processes, self.tmp = processes, tmp
        self.key_file = tmp / "relay.key"
        tokens.generate_key(self.key_file)
        port = free_port()
        processes.glidein(["collector", "--port", str(port)], "collector")
        wait_for_port(port)
        self.collector = f"127.0.0.1:{port}"
        self.state_dir = tmp / "relay"
        self.opts = RelayOptions(ENTRY, FACTORY, submitter, max_per_cycle=max_per_cycle, interval=0.5)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.port = free_port()
        argv = relay_argv(
            self.opts,
            state_dir=str(self.state_dir),
            pool_key=str(self.key_file),
            collector=self.collector,
            name=f"relay-{ENTRY}@test",
            port=self.port,
            advertise_interval=1.0,
            python=sys.executable,
        )
        self.starts += 1
        self.proc = self.processes.start(argv, f"relay{self.starts}", env=env)
        wait_for_port(self.port, timeout=30)
        return self.proc

    def log(self, start: int) -> str:
        return str(self.processes.log(f"relay{start}"))

    def submitter(self, key_file: Path | None = None) -> RelaySubmitter:
        params = RelayParams((self.collector,), FACTORY, str(key_file or self.key_file))
        return RelaySubmitter(ENTRY, params, self.tmp / "factory")

    def wait_advertised(self, port: int) -> RelaySubmitter:
        """A submitter that found the relay listening on `port` through its ad."""
        found: list[RelaySubmitter] = []

        def located() -> bool:
            sub = self.submitter()
            try:
                client = sub.client()
            except Exception:
                return False
            found[:] = [sub]
            return client.url.endswith(f":{port}")

        wait_for(located, timeout=30, interval=0.3)
        return found[0]

    def pilots(self) -> list[dict[str, Any]]:
        pilots = self.submitter().client().call("GET", "/relay/pilots")["pilots"]
        assert isinstance(pilots, list)
        return pilots

    def wait_ended(self, sub: RelaySubmitter, ids: list[str], timeout: float = 90) -> dict[str, Any]:
        refs = [PilotRef(i, "") for i in ids]
        seen: dict[str, Any] = {}

        def ended() -> bool:
            seen.update(sub.status(refs))
            return all(i in seen and seen[i].state in FINAL for i in ids)

        wait_for(ended, timeout=timeout, interval=0.5)
        return seen


def pilot(pilot_id: str, code: int = 0, sleep: float = 0.0) -> PilotSpec:
    """A pilot that prints its id and how many times it sees its secret in its parameter file."""
    script = (
        "import sys, time; p = sys.argv[sys.argv.index('-param_file') + 1];"
        f" time.sleep({sleep}); seen = open(p).read().count('s3cret-{pilot_id}');"
        f" print('pilot {pilot_id} secret seen', seen);"
        f" sys.exit({code})"
    )
    return PilotSpec(
        pilot_id=pilot_id,
        entry=ENTRY,
        client="fe.main",
        argv=[sys.executable, "-c", script],
        secrets={"GLIDEIN_TOKEN": f"s3cret-{pilot_id}"},
    )


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def job_json(site: Path, pilot_id: str) -> dict[str, Any] | None:
    path = site / "jobs" / pilot_id / "job.json"
    return json.loads(path.read_text()) if path.exists() else None
