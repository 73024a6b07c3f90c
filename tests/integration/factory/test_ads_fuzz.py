"""Seeded fuzzing of the ads the factory and the frontend read from outside, on the real processes.

Mutated signed requests (glideclient, glideclientglobal) go through a real collector to a real
factory; mutated factory entry ads (glidefactory), slot ads and schedd ads go to a real frontend.
Every value a mutation can produce that the collector accepts reaches the daemons: hostile
expressions at the collector's limits, huge numbers, type swaps, missing and duplicated signed
attributes, wrong keys. The daemons must stay up, log no traceback, write one line per refusal,
honour nothing forged (no pilot for the fuzzed entry) and go on serving a valid request.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence

from glidein.common import classads
from glidein.common.bus import Bus
from glidein.common.glideclient import ClientGlobal, global_ad
from glidein.pool import cedar
from tests.integration.factory.test_factory_daemon import (
    cycles_pass,
    idle,
    request,
)
from tests.integration.frontend.test_frontend_daemon import requests, start_world
from tests.procs import Processes, wait_for

SEED = 17
ROUNDS = 60
Pairs = list[tuple[str, str]]
HOSTILE = [
    " + ".join(["1"] * 3_900),
    "(" * 60 + "1" + ")" * 60,
    "eval(Name)",
    'eval("ReqIdleGlideins")',
    "random(100)",
    "9" * 400,
    "-" + "9" * 40,
    "1e308 * 1e308",
    "1 / 0",
    "error",
    "undefined",
    '"' + "x" * 60_000 + '"',
    '"\\u0000\\t"',
    "[ a = 1; b = 2 ]",
    "{ 1, { 2, { 3 } } }",
    "ReqIdleGlideins + 1",
    "MY.MY.MY.Name",
    'strcat(Name, "x")',
    "isUndefined(Foo) ? 5 : -5",
    "true",
    "-1",
    "2147483648",
    '"AAAA"',
]


def _mutate(rng: random.Random, ad: Pairs) -> Pairs:
    pairs = list(ad)
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(6)
        pos = rng.randrange(len(pairs))
        name, _value = pairs[pos]
        if kind <= 1:
            pairs[pos] = (name, rng.choice(HOSTILE))
        elif kind == 2 and name not in ("MyType", "Name"):
            del pairs[pos]
        elif kind == 3:
            pairs.append((name, rng.choice(HOSTILE)))  # the last value of a name wins
        elif kind == 4:
            pairs[pos] = (name + rng.choice(["", "X", "_2"]), pairs[pos][1])
        else:
            other = rng.randrange(len(pairs))
            pairs[pos] = (name, pairs[other][1])  # a value of another attribute (type swap)
    return pairs


def _send(address: str, ads: Sequence[Pairs]) -> None:
    """Each ad on its own connection: the collector may refuse one (too big) and keep the others."""
    for ad in ads:
        with contextlib.suppress(cedar.CedarError, OSError):  # refused at the door: fine
            cedar.advertise(address, [ad], "UPDATE_AD_GENERIC", timeout=5.0)


def _clean(log: str) -> None:
    assert "Traceback" not in log
    longest = max((len(line) for line in log.splitlines()), default=0)
    assert longest < 2_000, f"a log line of {longest} characters (a refusal must be one short line)"


def test_factory_survives_mutated_requests_and_honours_none(world: object, processes: Processes) -> None:
    from tests.factory_support import FactorySetup

    setup, bus, factory = world  # type: ignore[misc]
    assert isinstance(setup, FactorySetup) and isinstance(bus, Bus)
    address = next(iter(bus._collectors))
    rng = random.Random(SEED)
    glob = ClientGlobal("g@f1", "fe1", "fe1@localhost", ["main"], requests=1, sequence=1)
    bases = [
        classads.to_old_pairs(classads.from_dict(request(setup, bus, "e2", 0, seq=5))),
        classads.to_old_pairs(classads.from_dict(global_ad(glob, setup.frontend_key))),
    ]
    for _ in range(ROUNDS):
        _send(address, [_mutate(rng, rng.choice(bases)) for _ in range(5)])
    cycles_pass(processes, 3)
    assert factory.poll() is None, "the factory died"
    assert idle(setup, "e2") == 0, "a mutated (forged) request for e2 was honoured"
    log = processes.log("factory")
    _clean(log)
    assert log.count("skipping glideclient") + log.count("refused") >= 5
    bus.advertise([classads.from_dict(request(setup, bus, "e1", 2, seq=50))])
    wait_for(lambda: idle(setup, "e1") == 2, timeout=30)  # a valid request still gets its pilots


def test_frontend_survives_mutated_entry_slot_and_schedd_ads(processes: Processes, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    world = start_world(processes, tmp_path)
    wms_addr = next(iter(world.wms._collectors))
    pool_addr = next(iter(world.user_pool._collectors))
    frontend = processes.glidein(["frontend", "run", "--config", str(world.config)], "frontend")
    wait_for(lambda: "ce1@gl@fac" in requests(world.wms), timeout=30)
    rng = random.Random(SEED)
    entry = classads.to_old_pairs(world.wms.query("glidefactory", 'Name =?= "ce1@gl@fac"')[0])
    slot = classads.to_old_pairs(world.user_pool.query("Machine")[0])
    schedd = classads.to_old_pairs(world.user_pool.query("Scheduler")[0])
    for _ in range(ROUNDS):
        fuzzed = [_mutate(rng, entry) for _ in range(3)]
        for ad in fuzzed:
            ad.append(("Name", f'"ce{rng.randrange(4, 9)}@gl@fac"'))  # beside ce1, not over it
        _send(wms_addr, fuzzed)
        _send(pool_addr, [_rename(_mutate(rng, slot), rng), _rename(_mutate(rng, schedd), rng)])
    before = processes.log("frontend").count("ce1@gl@fac")
    wait_for(lambda: processes.log("frontend").count("ce1@gl@fac") >= before + 3, timeout=40)
    assert frontend.poll() is None, "the frontend died"
    _clean(processes.log("frontend"))
    reqs = requests(world.wms)
    assert not any(name.startswith(("ce4", "ce5", "ce6", "ce7", "ce8")) for name in reqs), "forged entry used"
    assert int(str(reqs["ce1@gl@fac"]["ReqIdleGlideins"])) > 0  # still requests for real jobs


def _rename(ad: Pairs, rng: random.Random) -> Pairs:
    return [*ad, ("Name", f'"fuzz{rng.randrange(20)}@wn"')]
