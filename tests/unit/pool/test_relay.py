"""The relay's decisions (pool/schedd/relay.py) over its SQLite store, with the in-memory backend."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import pytest

from glidein.common import tokens
from glidein.common.classads import from_dict
from glidein.common.errors import ConfigError, NotFoundError, SecurityError, SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import PilotSpec
from glidein.factory.submitters.fake import FakeSubmitter
from glidein.factory.submitters.relay import freshest, relay_constraint
from glidein.pool.schedd.advertise import schedd_ad
from glidein.pool.schedd.relay import Relay, RelayOptions, make_backend, parse_submitter, relay_argv
from glidein.pool.schedd.relay_api import route
from glidein.pool.schedd.relay_store import QUEUED, SUBMITTED, SUBMITTING, RelayStore
from tests.procs import wait_for

S = PilotState


def _spec(pilot_id: str, entry: str = "e1") -> dict[str, object]:
    return {"pilot_id": pilot_id, "entry": entry, "client": "fe", "argv": ["true"], "secrets": {"t": "x"}}


@pytest.fixture
def relay(tmp_path: Path) -> Relay:
    opts = RelayOptions("e1", "f1", {"type": "fake"}, max_per_cycle=2, interval=1.0)
    return Relay(opts, RelayStore(tmp_path / "queue.sqlite"), FakeSubmitter("e1"), tmp_path / "out", "r1")


def _backend(relay: Relay) -> FakeSubmitter:
    assert isinstance(relay.backend, FakeSubmitter)
    return relay.backend


def test_hands_at_most_max_per_cycle_oldest_first_and_forgets_secrets(relay: Relay) -> None:
    relay.store.add([_spec(f"p{n}") for n in range(5)], 1.0)
    assert relay.cycle()["handed"] == 2
    assert [s.pilot_id for s in _backend(relay).submitted] == ["p0", "p1"]
    assert _backend(relay).submitted[0].secrets == {"t": "x"}
    relay.cycle()
    relay.cycle()
    assert [s.pilot_id for s in _backend(relay).submitted] == ["p0", "p1", "p2", "p3", "p4"]
    assert {p.stage for p in relay.store.all()} == {SUBMITTED}
    assert all(p.spec["secrets"] == {} for p in relay.store.all())
    assert relay.cycle()["handed"] == 0


def test_a_retried_submit_queues_nothing_twice(relay: Relay) -> None:
    relay.store.add([_spec("p0")], 1.0)
    relay.cycle()
    relay.store.add([_spec("p0")], 2.0)
    relay.cycle()
    assert [s.pilot_id for s in _backend(relay).submitted] == ["p0"]


def test_unconfirmed_hand_over_is_resolved_by_asking_the_backend(relay: Relay) -> None:
    relay.store.add([_spec("taken"), _spec("lost")], 1.0)
    relay.store.take(2, 2.0)  # a relay killed during the backend call: both `submitting`
    _backend(relay).submit([PilotSpec("taken", "e1", "fe", ["true"])])  # the backend got this one
    assert relay.recover() == 2
    rows = relay.store.get(["taken", "lost"])
    assert (rows["taken"].stage, rows["taken"].backend_id) == (SUBMITTED, "1")
    assert rows["lost"].stage == QUEUED
    relay.cycle()
    assert [s.pilot_id for s in _backend(relay).submitted] == ["taken", "lost"]  # each exactly once


def test_a_failed_backend_submit_stays_unconfirmed_until_the_backend_answers(relay: Relay) -> None:
    relay.store.add([_spec("p0")], 1.0)
    _backend(relay).fail_submit = True
    relay.cycle()
    assert relay.store.get(["p0"])["p0"].stage == SUBMITTING
    _backend(relay).fail_submit = False
    relay.cycle()  # the backend does not have it: queued again, then handed over
    assert relay.store.get(["p0"])["p0"].stage == SUBMITTED


def test_status_output_removal_and_missing(relay: Relay, tmp_path: Path) -> None:
    relay.store.add([_spec("a"), _spec("b"), _spec("q")], 1.0)
    relay.cycle()
    _backend(relay).set_state("a", S.FAILED, 7)
    del _backend(relay).jobs["b"]
    relay.store.flag("remove", ["q"], True, 2.0)
    relay.cycle()
    known = relay.status_of(["a", "b", "q", "nope"])
    assert known["a"]["state"] == "failed" and known["a"]["exit_code"] == 7
    assert "b" not in known and "nope" not in known  # missing from the backend: the factory decides
    assert known["q"]["state"] == "removed"  # never handed over: removed at the relay
    assert [s.pilot_id for s in _backend(relay).submitted] == ["a", "b"]


def test_api_checks_token_entry_and_fields(relay: Relay, tmp_path: Path) -> None:
    key = bytes(32)
    good = "Bearer " + tokens.mint(key, "factory:f1", ["relay"], 60, "f1")
    startd = "Bearer " + tokens.mint(key, "s", ["startd"], 60, "f1")

    def call(path: str, body: dict[str, object], auth: str = good) -> object:
        return route(relay, key, "POST", path, auth, lambda: body)[1]

    with pytest.raises(SecurityError, match="lacks scope 'relay'"):
        call("/relay/submit", {"pilots": [_spec("p0")]}, startd)
    with pytest.raises(SubmitError, match=r"pilots\[1\]\.entry: this relay serves entry 'e1', not 'e2'"):
        call("/relay/submit", {"pilots": [_spec("p0"), _spec("p1", "e2")]})
    with pytest.raises(SubmitError, match=r"pilots\[0\]\.pilot_id"):
        call("/relay/submit", {"pilots": [_spec("../x")]})
    with pytest.raises(SubmitError, match=r"pilots\[0\]: unknown field 'extra'"):
        call("/relay/submit", {"pilots": [{**_spec("p0"), "extra": 1}]})
    assert relay.store.all() == []  # nothing queued from a refused request
    assert call("/relay/submit", {"pilots": [_spec("p0")]}) == {"relay": "r1", "accepted": ["p0"]}
    with pytest.raises(NotFoundError, match="not a relay"):
        route(None, key, "POST", "/relay/status", good, dict)


def test_relay_ad_and_argv(relay: Relay) -> None:
    status = {
        "name": "r1",
        "url": "http://h:1",
        "idle": 0,
        "running": 0,
        "held": 0,
        "relay": relay.describe(),
    }
    ad = schedd_ad(status, 10.0, now=1234)
    assert ad.eval("is_glidein") is True
    assert (ad.eval("GlideinRelayEntry"), ad.eval("GlideinRelayFactory")) == ("e1", "f1")
    assert ad.eval("GlideinRelayUpdateTime") == 1234 and ad.eval("ClassAdLifetime") == 30
    plain = schedd_ad({**status, "relay": None}, 10.0)
    with pytest.raises(KeyError):
        plain.eval("is_glidein")
    argv = relay_argv(relay.opts, state_dir="/s", pool_key="/k", collector="c:1", name="r1")
    assert argv[argv.index("--relay-submitter") + 1] == '{"type": "fake"}'
    assert argv[argv.index("--relay-max-per-cycle") + 1] == "2"


def test_freshest_ad_wins_and_constraint_quotes() -> None:
    ads = [
        from_dict({"Name": "old", "ScheddHttpAddress": "http://a", "GlideinRelayUpdateTime": 5}),
        from_dict({"Name": "new", "ScheddHttpAddress": "http://b", "GlideinRelayUpdateTime": 9}),
        from_dict({"Name": "broken"}),
    ]
    found = freshest(ads)
    assert found is not None and (found.name, found.url) == ("new", "http://b")
    assert freshest([]) is None
    assert 'GlideinRelayEntry =?= "e\\"1"' in relay_constraint('e"1', "f")


def test_bad_submitter_parameters_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--relay-submitter: not JSON"):
        parse_submitter("{type")
    with pytest.raises(ConfigError, match="--relay-submitter: must be a JSON object"):
        parse_submitter("[]")
    opts = RelayOptions("e1", "f1", {"type": "local", "slots": 0})
    with pytest.raises(ConfigError, match=r"--relay-submitter: local\.slots: "):
        make_backend(opts, tmp_path)
    with pytest.raises(ConfigError, match="--relay-max-per-cycle must be >= 1"):
        RelayOptions("e1", "f1", {}, max_per_cycle=0).check()


def test_cli_builds_relay_options_from_relay_argv() -> None:
    from glidein.cli import schedd as cli_schedd

    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    cli_schedd.register(subparsers)
    opts = RelayOptions("e1", "f1", {"type": "local", "slots": 3}, max_per_cycle=4, interval=2.5)
    argv = relay_argv(opts, state_dir="/s", pool_key="/k", collector="c:1", name="r1")
    args = parser.parse_args(argv[argv.index("schedd") :])
    built = cli_schedd._relay(args)
    assert built == opts
    assert json.loads(args.relay_submitter) == {"type": "local", "slots": 3}


def test_relay_stops_at_the_end_of_its_lifetime(tmp_path: Path) -> None:
    now = [100.0]
    opts = RelayOptions("e1", "f1", {"type": "fake"}, interval=0.01, lifetime=30.0)
    store = RelayStore(tmp_path / "queue.sqlite")
    relay = Relay(
        opts, store, FakeSubmitter("e1"), tmp_path / "out", "r1", clock=lambda: now[0], started=100.0
    )
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,))
    worker.start()
    relay.store.add([_spec("p0")], 1.0)
    wait_for(lambda: bool(_backend(relay).submitted), timeout=10)
    assert not stop.is_set()
    now[0] = 130.0
    worker.join(10)
    assert stop.is_set() and relay.done.is_set()
