"""A site relay on the embedded default: a real `glidein schedd --relay-entry ...` process and a
real `glidein collector` on loopback; pilots go factory-side RelaySubmitter -> relay -> the local
site's processes (and, in one case, the session's Slurm)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from glidein.common import tokens
from glidein.common.errors import GlideinError, SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotRef
from tests.integration.pool.relay_helpers import (
    ENTRY,
    FACTORY,
    RelaySite,
    job_json,
    pilot,
    proc_state,
)
from tests.procs import Processes, run_glidein, wait_for

RELAYS = "is_glidein =?= true"  # `-c` in the issue: condor_status 25 knows only -constraint (-con)
S = PilotState


def test_relay_runs_pilots_and_is_listed(processes: Processes, tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    relay = RelaySite(processes, tmp_path, {"type": "local", "slots": 2, "work_dir": str(site_dir)})
    relay.start()
    sub = relay.wait_advertised(relay.port)
    ids = [f"p{n}" for n in range(5)]
    assert sub.submit([pilot(i, code=3 if i == "p4" else 0) for i in ids]) == {
        i: f"relay-{ENTRY}@test/{i}" for i in ids
    }
    assert sub.submit([pilot("p0")]) == {"p0": f"relay-{ENTRY}@test/p0"}  # a retry queues nothing twice
    seen = relay.wait_ended(sub, ids)
    assert {i: (seen[i].state, seen[i].exit_code) for i in ids} == {
        **{i: (S.COMPLETED, 0) for i in ids[:4]},
        "p4": (S.FAILED, 3),
    }
    assert sub.relay_name == f"relay-{ENTRY}@test"
    for i in ids:  # the output comes back through the relay; the secret reached the pilot
        assert sub.stdout_path(i).read_text() == f"pilot {i} secret seen 1\n"
    assert [p["handovers"] for p in relay.pilots()] == [1] * 5
    log = relay.log(1)
    handed = [int(n) for n in re.findall(r"relay entry=site_a .*handed=(\d+)", log)]
    assert sum(handed) == 5 and max(handed) <= 2, handed  # at most max_per_cycle per cycle
    assert "s3cret" not in log
    # the pilots' parameter files (their secrets) are gone from the site once they ended
    assert not list(site_dir.glob("jobs/*/pilot.params"))


def test_relay_ad_lists_in_glidein_status_and_condor_status(processes: Processes, tmp_path: Path) -> None:
    relay = RelaySite(processes, tmp_path, {"type": "local", "work_dir": str(tmp_path / "site")})
    relay.start()
    relay.wait_advertised(relay.port)
    attrs = ["Name", "GlideinRelayEntry", "GlideinRelayFactory", "ScheddHttpAddress"]
    expected = f"relay-{ENTRY}@test {ENTRY} {FACTORY} http://127.0.0.1:{relay.port}"
    ours = run_glidein(["status", "-pool", relay.collector, "-schedd", "-constraint", RELAYS, "-af", *attrs])
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.strip() == expected
    condor_status = Path(__file__).resolve().parents[3] / ".venv" / "htcondor" / "bin" / "condor_status"
    if not condor_status.exists():
        pytest.skip(f"no {condor_status}")
    env = {**os.environ, "CONDOR_CONFIG": "/dev/null"}
    real = subprocess.run(
        [str(condor_status), "-pool", relay.collector, "-schedd", "-constraint", RELAYS, "-af", *attrs],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert real.returncode == 0, real.stderr
    assert real.stdout.strip() == expected
    plain = run_glidein(
        ["status", "-pool", relay.collector, "-schedd", "-constraint", "is_glidein =!= true", "-af", "Name"]
    )
    assert plain.stdout.strip() == ""  # the relay is the only schedd; a plain schedd has no is_glidein


def test_relay_refuses_a_token_of_another_key(processes: Processes, tmp_path: Path) -> None:
    relay = RelaySite(processes, tmp_path, {"type": "local", "work_dir": str(tmp_path / "site")})
    relay.start()
    relay.wait_advertised(relay.port)
    other = tmp_path / "other.key"
    tokens.generate_key(other)
    with pytest.raises(SubmitError, match="signature does not verify"):
        relay.submitter(other).submit([pilot("x1")])
    assert relay.pilots() == []
    bad = relay.submitter()
    with pytest.raises(SubmitError, match=r"pilots\[0\]\.entry: this relay serves entry 'site_a'"):
        bad.submit([pilot("x2").__class__(pilot_id="x2", entry="other", client="c", argv=["true"])])
    assert relay.proc is not None and relay.proc.poll() is None


@pytest.mark.parametrize("point", ["before_backend", "after_backend"])
def test_relay_killed_at_the_hand_over_loses_and_repeats_nothing(
    processes: Processes, tmp_path: Path, point: str
) -> None:
    site_dir = tmp_path / "site"
    relay = RelaySite(processes, tmp_path, {"type": "local", "slots": 4, "work_dir": str(site_dir)})
    first = relay.start(env={"GLIDEIN_RELAY_TEST_STOP": point})
    sub = relay.wait_advertised(relay.port)
    sub.submit([pilot("k1", sleep=1.0), pilot("k2", sleep=1.0)])
    wait_for(lambda: proc_state(first.pid) == "T", timeout=30)  # stopped itself at `point`
    before = {i: job_json(site_dir, i) for i in ("k1", "k2")}
    assert all((job is None) == (point == "before_backend") for job in before.values()), before
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    relay.start()
    sub = relay.wait_advertised(relay.port)
    seen = relay.wait_ended(sub, ["k1", "k2"])
    assert {i: seen[i].state for i in ("k1", "k2")} == {"k1": S.COMPLETED, "k2": S.COMPLETED}
    for i in ("k1", "k2"):
        assert sub.stdout_path(i).read_text() == f"pilot {i} secret seen 1\n"  # ran once, secret intact
        job = job_json(site_dir, i)
        assert job is not None
        if point == "after_backend":  # the site's job is the one handed over before the kill
            assert before[i] == job
    log = relay.log(2)
    recovered = "backend_id=" if point == "after_backend" else "queued again"
    for i in ("k1", "k2"):
        assert f"pilot={i} unconfirmed hand-over: {recovered}" in log
        assert (f"pilot={i} handed to the backend" in log) == (point == "before_backend")


def test_relay_removes_a_running_pilot(processes: Processes, tmp_path: Path) -> None:
    relay = RelaySite(processes, tmp_path, {"type": "local", "work_dir": str(tmp_path / "site")})
    relay.start()
    sub = relay.wait_advertised(relay.port)
    sub.submit([pilot("r1", sleep=120.0)])

    def running() -> bool:
        status = sub.status([PilotRef("r1", "")]).get("r1")
        return status is not None and status.state == S.RUNNING

    wait_for(running, timeout=60, interval=0.3)
    sub.remove([PilotRef("r1", "")])
    seen = relay.wait_ended(sub, ["r1"], timeout=60)
    assert seen["r1"].state == S.REMOVED


@pytest.mark.slurm
def test_relay_hands_pilots_to_slurm(processes: Processes, tmp_path: Path, slurm_conf: str) -> None:
    out_dir = tmp_path / "slurm"
    out_dir.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    relay = RelaySite(processes, tmp_path, {"type": "slurm", "work_dir": str(out_dir), "time_limit": 5})
    relay.start(env={"SLURM_CONF": slurm_conf})
    sub = relay.wait_advertised(relay.port)
    ids = ["s1", "s2"]
    sub.submit([pilot("s1"), pilot("s2", code=5)])
    seen = relay.wait_ended(sub, ids, timeout=120)
    assert {i: (seen[i].state, seen[i].exit_code) for i in ids} == {
        "s1": (S.COMPLETED, 0),
        "s2": (S.FAILED, 5),
    }
    for i in ids:
        job_id = seen[i].backend_id.split("/", 1)[1]
        assert job_id.isdigit(), seen[i]  # the Slurm job id, through the relay
        assert sub.stdout_path(i).read_text() == f"pilot {i} secret seen 1\n"


BAD_BODIES = [
    ("/relay/submit", {"pilots": "x"}, "'pilots' must be a list of 1 to 1000 pilots"),
    ("/relay/submit", {"pilots": []}, "'pilots' must be a list of 1 to 1000 pilots"),
    ("/relay/submit", {"pilots": [{"pilot_id": "a", "entry": ENTRY, "argv": []}]}, "pilots[0].argv: must be"),
    ("/relay/submit", {"pilots": [{"pilot_id": "a", "entry": ENTRY, "argv": ["x"], "cpus": True}]}, "cpus"),
    ("/relay/submit", {"pilots": [{"pilot_id": "a", "entry": ENTRY, "argv": ["x"], "env": {"A": 1}}]}, "env"),
    ("/relay/status", {"ids": [1]}, "ids[0]: pilot id must be"),
    ("/relay/status", {"ids": "p1"}, "'ids' must be a list"),
    ("/relay/remove", {}, "'ids' must be a list"),
    ("/relay/nothing", {}, "no such endpoint POST /relay/nothing"),
]


def test_relay_answers_bad_input_with_one_line_and_goes_on(processes: Processes, tmp_path: Path) -> None:
    relay = RelaySite(processes, tmp_path, {"type": "local", "work_dir": str(tmp_path / "site")})
    relay.start()
    client = relay.wait_advertised(relay.port).client()
    for path, body, message in BAD_BODIES:
        with pytest.raises(GlideinError) as info:
            client.call("POST", path, body)
        assert message in str(info.value) and "\n" not in str(info.value), (path, body, str(info.value))
    with pytest.raises(GlideinError, match="no output of pilot nope"):
        client.call("GET", "/relay/output/nope")
    with pytest.raises(GlideinError, match="path: pilot id must be"):
        client.call("GET", "/relay/output/..%2Fqueue.sqlite")
    assert relay.pilots() == [] and relay.proc is not None and relay.proc.poll() is None
