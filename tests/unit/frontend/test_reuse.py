"""What a steady cycle reuses from the last one (issue 17): only what is unchanged, never more.

Entry ads whose signed content is unchanged are not checked again, but a changed signed value is;
sealed secrets are reused while key, secrets and ad Name are the same and still open at the
factory; autocluster ads with the same JSON are parsed once; matching's memo gives what a fresh
computation gives, cycle after cycle, as autoclusters come and go.
"""

from __future__ import annotations

import copy
import gc
import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glidein.common import classads, crypto
from glidein.common.classads import ClassAd
from glidein.common.config import load_frontend_config
from glidein.common.errors import SecurityError
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator
from glidein.frontend.jobs import AdCache
from glidein.frontend.matching import JobCluster, match, new_memo
from glidein.frontend.requests import EntryVerifier, SealCache
from tests.unit.frontend import fixtures
from tests.unit.frontend.fixtures import frontend_public_key
from tests.unit.frontend.test_cycle import (
    NOW,
    FakeBus,
    FakeSource,
    FakeSourcesFrontend,
    job,
    requests_by_entry,
    slot,
)
from tests.unit.frontend.test_matching import MATCH_EXPRS, brute_force, entry_ads, job_ads
from tests.unit.frontend.test_requests import FACTORY_BOX, TRUSTED, entry_ad


def test_unchanged_entry_ads_are_not_checked_again() -> None:
    verifier = EntryVerifier(TRUSTED)
    ads = [entry_ad("ce1"), entry_ad("ce2")]
    first = verifier.verify(ads)
    assert [e.name for e in first] == ["ce1@gl@fac", "ce2@gl@fac"]
    assert verifier.checked == 2
    again = [copy.copy(ad) for ad in ads]
    again[0]["LastHeardFrom"] = 456  # the collector's, not signed: still the same signed content
    second = verifier.verify(again)
    assert verifier.checked == 2
    assert [e.name for e in second] == ["ce1@gl@fac", "ce2@gl@fac"]
    assert second[0].ad["GLIDEIN_CPUS"] == 4


@pytest.mark.parametrize("value", [64, "4", 4.0, True, classads.parse_expr("2 + 2")])
def test_a_changed_signed_value_is_checked_and_refused(value: object) -> None:
    verifier = EntryVerifier(TRUSTED)
    good = entry_ad("ce1")
    assert len(verifier.verify([good])) == 1
    tampered = copy.copy(good)
    tampered["GLIDEIN_CPUS"] = value  # the old signature, another value (or type) under it
    assert verifier.verify([tampered]) == []
    assert verifier.checked == 2


def test_entries_not_seen_for_a_cycle_are_forgotten() -> None:
    verifier = EntryVerifier(TRUSTED)
    ad = entry_ad("ce1")
    verifier.verify([ad])
    verifier.verify([])
    verifier.verify([])
    verifier.verify([ad])
    assert verifier.checked == 2


def test_sealed_secrets_reused_while_unchanged_and_still_open() -> None:
    seals = SealCache()
    public = crypto.public_key_b64(FACTORY_BOX.public_key())
    blob = seals(public, b'{"GLIDEIN_Token": "t1"}', "fe|ce1@gl@fac@fe.main")
    seals.next_cycle()
    assert seals(public, b'{"GLIDEIN_Token": "t1"}', "fe|ce1@gl@fac@fe.main") == blob
    assert seals.sealed == 1
    assert crypto.open_sealed(FACTORY_BOX, blob, "fe|ce1@gl@fac@fe.main") == b'{"GLIDEIN_Token": "t1"}'
    fresh = seals(public, b'{"GLIDEIN_Token": "t2"}', "fe|ce1@gl@fac@fe.main")  # a new token
    other = seals(public, b'{"GLIDEIN_Token": "t1"}', "fe|ce2@gl@fac@fe.main")  # another ad
    assert len({blob, fresh, other}) == 3
    assert seals.sealed == 3
    with pytest.raises(SecurityError):
        crypto.open_sealed(FACTORY_BOX, other, "fe|ce1@gl@fac@fe.main")


def test_autocluster_ads_parsed_once_while_their_json_is_the_same() -> None:
    cache = AdCache()
    value = json.loads(classads.to_json(classads.from_dict({"RequestMemory": 2000, "Owner": "u1"})))
    first = cache.ad(value)
    cache.next_cycle()
    assert cache.ad(json.loads(json.dumps(value))) is first
    changed = dict(value, RequestMemory=4000)
    assert cache.ad(changed)["RequestMemory"] == 4000
    assert cache.parsed == 2
    cache.next_cycle()
    cache.next_cycle()
    assert cache.ad(value) is not first  # unused for a whole cycle: parsed again
    assert cache.parsed == 3


def test_autocluster_ads_equal_in_python_but_not_in_json_are_parsed_apart() -> None:
    cache = AdCache()
    ads = [cache.ad({"RequestCpus": v}) for v in (1, True, 1.0)]
    assert [type(ad["RequestCpus"]) for ad in ads] == [int, bool, float]
    listed = [cache.ad({"L": [1]}), cache.ad({"L": [True]})]  # not hashable: keyed by JSON text
    assert [ad.eval("L") for ad in listed] == [[1], [True]]


def changed(entry: ClassAd, rng: random.Random) -> ClassAd:
    """Another ad for the same entry, one value changed (the factory re-advertised it); well
    typed, as in test_matching (the OneWayMatcher caveat)."""
    ad = copy.copy(entry)
    attr, values = rng.choice(
        [
            ("GLIDEIN_Site", ["A", "C", "E", "a"]),
            ("GLIDEIN_MaxMemMBs", [2000, 16000]),
            ("GLIDEIN_CPUS", [4, 8]),
        ]
    )
    ad[attr] = rng.choice(values)
    return ad


@settings(max_examples=80, deadline=None)
@given(
    expr=st.sampled_from([*MATCH_EXPRS, "GLIDEIN_MaxMemMBs >= RequestMemory && time() > 0"]),
    ads=st.lists(job_ads(), min_size=1, max_size=10),
    entries=st.lists(entry_ads(), max_size=6),
    seed=st.integers(0, 2**16),
)
def test_memo_across_cycles_equals_a_fresh_match(
    expr: str, ads: list[ClassAd], entries: list[ClassAd], seed: int
) -> None:
    """Four cycles with one memo: autoclusters kept (the same ad objects), dropped, added and
    re-counted, entries re-advertised with a value changed and in another order; every cycle's
    counts are those of a brute-force evaluation (conjunct answers carried by entry values)."""
    rng = random.Random(seed)
    names = [f"e{i}" for i in range(len(entries))]
    memo = new_memo()
    for _ in range(4):
        memo.next_cycle()
        if rng.random() < 0.5:  # else the very same entries: whole masks are reused
            entries = [e if rng.random() < 0.7 else changed(e, rng) for e in entries]
            rng.shuffle(entries)
        chosen = [ad for ad in ads if rng.random() < 0.7]
        clusters = [JobCluster(ad, rng.randrange(0, 20), rng.randrange(0, 3)) for ad in chosen]
        result = match(expr, clusters, entries, names, memo=memo)
        want = brute_force(expr, clusters, entries)
        for i, name in enumerate(names):
            got = result.entries[name]
            assert (got.count, got.running) == (want[i]["count"], want[i]["running"]), name
            assert got.prop == pytest.approx(want[i]["prop"])
            assert got.prop_mc == pytest.approx(want[i]["prop_mc"])


def test_the_daemon_reuses_between_cycles_and_its_requests_stay_valid(tmp_path: Path) -> None:
    """Frontend.cycle twice: nothing verified, sealed or matched anew the second time, and the
    second cycle's requests still pass the factory's validation (new AdSequence, sealed token)."""
    keys, tmp = fixtures.FactoryKeys(), tmp_path
    config = load_frontend_config(fixtures.write_config(tmp, keys))
    wms = FakeBus(
        {"glidefactory": [fixtures.entry_ad(keys, "ce1", "SiteA"), fixtures.entry_ad(keys, "ce2", "SiteB")]}
    )
    frontend = FakeSourcesFrontend(config, wms, FakeBus({"Machine": [slot("ce1")]}), clock=lambda: NOW)  # type: ignore[arg-type]
    frontend.sources = [FakeSource([JobCluster(job("SiteA"), 30), JobCluster(job("SiteB"), 10)])]
    frontend.cycle()
    checked, sealed, computed = frontend.verifier.checked, frontend.seals.sealed, frontend.match_memo.computed
    assert (checked, sealed, computed) == (2, 2, 2)  # the daemon's cycle goes through them
    first = requests_by_entry(wms)
    wms.advertised.clear()
    frontend.cycle()
    assert (frontend.verifier.checked, frontend.seals.sealed, frontend.match_memo.computed) == (
        checked,
        sealed,
        computed,
    )
    second = requests_by_entry(wms)
    assert {n: r["ReqIdleGlideins"] for n, r in second.items()} == {
        n: r["ReqIdleGlideins"] for n, r in first.items()
    }
    assert all(second[n]["AdSequence"] > first[n]["AdSequence"] for n in first)  # type: ignore[operator]
    validator = RequestValidator(
        {"fe": FrontendTrust.from_keys("fe", [frontend_public_key(tmp)])},
        {crypto.key_id(keys.box.public_key()): keys.box},
        ["ce1@gl@fac", "ce2@gl@fac"],
        MemorySequences(),
        clock=lambda: NOW,
    )
    ad = next(a for a in wms.advertised if a["ReqName"] == "ce1@gl@fac")
    assert validator.validate(ad).secrets["GLIDEIN_Token"]


def test_the_cyclic_collector_is_off_during_a_cycle_and_on_after(tmp_path: Path) -> None:
    keys = fixtures.FactoryKeys()
    config = load_frontend_config(fixtures.write_config(tmp_path, keys))
    wms = FakeBus({"glidefactory": [fixtures.entry_ad(keys, "ce1", "SiteA")]})
    frontend = FakeSourcesFrontend(config, wms, FakeBus({"Machine": []}), clock=lambda: NOW)  # type: ignore[arg-type]
    seen: list[bool] = []

    class Watching(FakeSource):
        def clusters(self, constraint: str, projection: Sequence[str] = ()) -> list[JobCluster]:
            seen.append(gc.isenabled())
            return super().clusters(constraint, projection)

    frontend.sources = [Watching([JobCluster(job("SiteA"), 3)])]
    assert gc.isenabled()
    frontend.cycle()
    assert seen == [False]
    assert gc.isenabled()
