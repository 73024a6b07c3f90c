"""Relay kind `glidein` (pool/schedd/relay_kind.py): what it deploys; its jobs as the monitor sees them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from glidein.common.config.entry import FakeSubmitter as FakeParams
from glidein.common.config.entry import LocalSubmitter as LocalParams
from glidein.common.errors import ConfigError, SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.fake import FakeSubmitter
from glidein.pool.schedd.relay_kind import GlideinRelay


def _entry(submitter: Any, collector: str | None = "127.0.0.1:9618") -> Any:
    relay = SimpleNamespace(
        collector=collector, lifetime=7200, update_interval=30, slurm_conf="/etc/slurm/x.conf",
        relay_dir=lambda name: f"/var/tmp/glidein-relay-{name}",
    )  # fmt: skip
    return SimpleNamespace(
        name="e1", submitter=submitter, relay=relay, limits=SimpleNamespace(max_per_cycle=7)
    )


def test_the_relay_hands_pilots_to_the_site_the_factory_would(tmp_path: Path) -> None:
    kind = GlideinRelay(_entry(LocalParams(slots=3)), "f1", tmp_path)
    opts = kind.options()
    assert opts.submitter["work_dir"] == str(tmp_path / "local" / "e1")  # not under the relay's own dir
    assert (opts.entry, opts.factory, opts.max_per_cycle, opts.lifetime, opts.interval) == (
        "e1",
        "f1",
        7,
        7200,
        5,
    )


def test_deploy_jobs_and_their_states(tmp_path: Path) -> None:
    kind = GlideinRelay(_entry(FakeParams()), "f1", tmp_path)
    backend = kind.backend
    assert isinstance(backend, FakeSubmitter)
    assert kind.jobs() == {}
    job = kind.deploy()
    (spec,) = backend.submitted
    assert spec.pilot_id == job and spec.env == {"SLURM_CONF": "/etc/slurm/x.conf"}
    argv = list(spec.argv)
    assert argv[argv.index("--state-dir") + 1] == "/var/tmp/glidein-relay-e1"
    assert argv[argv.index("--pool-key") + 1] == str(tmp_path / "relay.key")
    assert (tmp_path / "relay.key").stat().st_mode & 0o777 == 0o600
    assert argv[argv.index("--name") + 1].startswith(f"{job}@")
    assert kind.jobs() == {job: 1}
    backend.set_state(job, PilotState.RUNNING)
    assert kind.jobs() == {job: 2}
    backend.set_state(job, PilotState.FAILED, 137)
    second = kind.deploy()
    assert second != job and kind.jobs() == {job: 4, second: 1}
    kind.remove([second])
    assert kind.jobs() == {job: 4, second: 3}
    backend.fail_status = True
    assert kind.jobs() is None  # unknown: the monitor does not take the relay for dead


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"relay\.collector is required"):
        GlideinRelay(_entry(FakeParams(), collector=None), "f1", tmp_path)
    kind = GlideinRelay(_entry(FakeParams(fail_submit=True)), "f1", tmp_path)
    with pytest.raises(SubmitError):
        kind.deploy()
    assert kind.jobs() == {}  # a refused deployment is not remembered as a relay job
