"""Shared set-up of the pilot integration tests: a stage, its web process, wrapper runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from glidein.factory import staging
from glidein.factory.web import report_token
from tests.procs import Processes, free_port, wait_for_port

# A stand-in for the embedded startd: same launch contract (section 6), writes a file and exits.
STANDIN_MAIN = """
import json, os, sys, time
conf = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
os.makedirs(conf["work_dir"], exist_ok=True)
marker = os.environ.get("PILOT_TEST_MARKERS")
if marker:
    with open(os.path.join(marker, "startd"), "w") as handle:
        json.dump(conf, handle)
with open(os.path.join(conf["work_dir"], "startd_result.json"), "w") as handle:
    json.dump({"jobs_run": 0, "reason": "stand-in"}, handle)
time.sleep(float(os.environ.get("PILOT_TEST_STARTD_SLEEP", "0")))
"""

# A staged test script: records that it ran (in order) and hands a value on via glidein_config.
MARK_SCRIPT = """
import os, sys
name = os.path.basename(sys.argv[0]).split(".")[0]
config = dict(l.rstrip("\\n").split(" ", 1) for l in open(sys.argv[1]) if " " in l)
with open(os.path.join(os.environ["PILOT_TEST_MARKERS"], "order"), "a") as handle:
    handle.write("%s %s\\n" % (name, config.get("TEST_CHAIN", "-")))
with open(sys.argv[1], "a") as handle:
    handle.write("TEST_CHAIN %s+%s\\n" % (config.get("TEST_CHAIN", ""), name))
"""


def standin_startd(root: Path) -> Path:
    (root / "pool" / "startd").mkdir(parents=True, exist_ok=True)
    for init in ("__init__.py", "pool/__init__.py", "pool/startd/__init__.py"):
        (root / init).write_text("")
    (root / "pool" / "startd" / "__main__.py").write_text(STANDIN_MAIN)
    return root


@dataclass
class StageSite:
    """A staged directory served by `glidein factory web` on a free loopback port."""

    tmp: Path
    processes: Processes
    algorithm: str = "sha256"
    signing_key: Path | None = None
    real_startd: bool = False
    extra: dict[str, list[staging.StageFile]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=lambda: {"GLIDEIN_Site": "SiteA"})
    port: int = 0
    result: staging.StageResult | None = None

    def __post_init__(self) -> None:
        self.stage_dir, self.state_dir = self.tmp / "stage", self.tmp / "state"
        self.markers = self.tmp / "markers"
        self.markers.mkdir()
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spec(self) -> staging.StagingSpec:
        source = staging.PACKAGE_ROOT if self.real_startd else standin_startd(self.tmp / "standin")
        return staging.StagingSpec(
            stage_dir=self.stage_dir,
            web_url=self.url,
            hash_algorithm=self.algorithm,
            signing_key=self.signing_key,
            main=self.extra.get("main", []),
            entries={"e1": self.extra.get("entry", [])},
            entry_constants={"e1": self.constants},
            clients={"fe": self.extra.get("client", [])},
            groups={"fe.main": self.extra.get("group", [])},
            startd_source=source,
        )

    def stage(self) -> staging.StageResult:
        self.result = staging.stage(self.spec())
        return self.result

    def serve(self, *extra: str) -> subprocess.Popen[bytes]:
        args = ["factory", "web", "--stage-dir", str(self.stage_dir), "--state-dir", str(self.state_dir)]
        proc = self.processes.glidein([*args, "--port", str(self.port), *extra], "web")
        wait_for_port(self.port)
        return proc

    def report_key(self) -> bytes:
        return bytes.fromhex((self.state_dir / "report.key").read_text().strip())

    def pilot_argv(self, pilot_id: str = "p1", **params: str) -> list[str]:
        assert self.result is not None
        token = report_token(self.report_key(), pilot_id)
        argv = [sys.executable, str(staging.WRAPPER_PATH), "-factory", "f1", "-name", "g1", "-entry", "e1"]
        argv += ["-clientname", "fe.main", *self.result.pilot_args("e1", "fe.main")]
        argv += ["-dir", str(self.tmp / "work"), "-v", "std", "-pilot_id", pilot_id, "-hold_time", "0"]
        argv += ["-report_url", self.url, "-report_token", token, "-retries", "0"]
        values = {"GLIDEIN_Collector": f"127.0.0.1:{self.port}", "GLIDEIN_Schedd": self.url} | params
        for key, value in values.items():
            argv += [f"-param_{key}", value]
        return argv

    def run_pilot(
        self, argv: list[str] | None = None, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ, PILOT_TEST_MARKERS=str(self.markers)) | (env or {})
        argv = argv or self.pilot_argv()
        run = subprocess.run
        return run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)

    def report(self, pilot_id: str = "p1") -> dict[str, object]:
        return json.loads((self.state_dir / "pilots" / pilot_id / "report.json").read_text())

    def work_dirs(self) -> list[Path]:
        return sorted((self.tmp / "work").glob("glide_*"))


def mark_script(tmp: Path, name: str, order: int) -> staging.StageFile:
    path = tmp / "scripts" / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(MARK_SCRIPT)
    return staging.StageFile(path, "exec", order=order)
