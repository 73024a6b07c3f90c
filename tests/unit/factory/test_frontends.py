"""glideclientglobal ads as the factory reads them: believed only when signed by a configured key,
logged when something changes, and what an operator must look at said in one line."""

from __future__ import annotations

import logging

import pytest

from glidein.common import classads, crypto
from glidein.common.glideclient import ClientGlobal, global_ad
from glidein.factory.frontends import Expectations, FrontendWatch
from glidein.factory.requests import FrontendTrust

FE_KEY = crypto.generate_signing_key()
SEAL_ID = "0123456789abcdef"
KNOWN = Expectations(
    {"fe1": FrontendTrust.from_keys("fe1", [crypto.public_key_b64(FE_KEY)])},
    {"fe1": "fe1@fe.example.org"},
    "g@f1",
)


def ad(sequence: int = 1, key: object = FE_KEY, **changes: object) -> classads.ClassAd:
    values: dict[str, object] = {
        "factory_global_name": "g@f1",
        "frontend": "fe1",
        "identity": "fe1@fe.example.org",
        "groups": ["main", "cms"],
        "requests": 3,
        "sequence": sequence,
        "seal_key_ids": [SEAL_ID],
        "version": "1.2",
    }
    values.update(changes)
    return classads.from_dict(global_ad(ClientGlobal(**values), key))  # type: ignore[arg-type]


def test_a_trusted_frontend_is_seen_once_then_its_changes_and_its_departure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = FrontendWatch(KNOWN)
    with caplog.at_level(logging.INFO, "glidein.factory.frontends"):
        seen = watch.update([ad(1)], [SEAL_ID])
        watch.update([ad(2)], [SEAL_ID])  # same frontend, nothing new: no line
        watch.update([ad(3, groups=["main"])], [SEAL_ID])
        watch.update([], [SEAL_ID])
    assert seen["fe1"].groups == ("main", "cms") and seen["fe1"].requests == 3 and not seen["fe1"].notes
    assert [r.getMessage() for r in caplog.records] == [
        "frontend seen: frontend=fe1 identity=fe1@fe.example.org key_id="
        f"{crypto.key_id(FE_KEY)} groups=main,cms requests=3 version=1.2",
        "frontend changed: frontend=fe1 identity=fe1@fe.example.org key_id="
        f"{crypto.key_id(FE_KEY)} groups=main requests=3 version=1.2",
        "frontend=fe1 no longer advertises its glideclientglobal ad (stopped or expired)",
    ]
    assert watch.status() == {"seen": {}, "refused": {}}


def test_an_unknown_key_is_refused_once_and_named_with_the_key_it_carries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = crypto.generate_signing_key()
    watch = FrontendWatch(KNOWN)
    with caplog.at_level(logging.WARNING, "glidein.factory.frontends"):
        assert watch.update([ad(key=other)], [SEAL_ID]) == {}
        assert watch.update([ad(key=other)], [SEAL_ID]) == {}
    (line,) = [r.getMessage() for r in caplog.records]
    assert f"signed with key id '{crypto.key_id(other)}'" in line
    assert crypto.public_key_b64(other) in line and "add it only if its operator confirms it" in line
    assert list(watch.status()["refused"]) == ["g@f1@fe1"]  # type: ignore[call-overload]


def test_tampered_foreign_older_and_other_factories_ads_are_not_believed() -> None:
    watch = FrontendWatch(KNOWN)
    tampered = ad(1)
    tampered["NumberOfRequests"] = 99
    stranger = ad(1, frontend="fe9")
    assert watch.update([tampered, stranger, ad(1, factory_global_name="g@f2")], [SEAL_ID]) == {}
    refused = watch.status()["refused"]
    assert isinstance(refused, dict) and set(refused) == {"g@f1@fe1", "g@f1@fe9"}  # g@f2 is not ours
    assert "bad GlideinSignature" in refused["g@f1@fe1"] and "not configured" in refused["g@f1@fe9"]
    assert watch.update([ad(5)], [SEAL_ID])["fe1"].sequence == 5
    assert watch.update([ad(4)], [SEAL_ID]) == {}  # older than the one seen: a replay
    assert "older than 5" in str(watch.status()["refused"])


def test_identity_and_key_rotation_problems_are_warned(caplog: pytest.LogCaptureFixture) -> None:
    watch = FrontendWatch(KNOWN)
    spoken = ad(1, identity="someone@else", seal_key_ids=["feedfeedfeedfeed"])
    spoken["AuthenticatedIdentity"] = "frontend@wms.example.org"  # set by an authenticating collector
    with caplog.at_level(logging.WARNING, "glidein.factory.frontends"):
        seen = watch.update([spoken], [SEAL_ID])["fe1"]
    assert seen.authenticated == "frontend@wms.example.org"
    assert seen.notes == (
        "says identity 'someone@else', configured 'fe1@fe.example.org'",
        "the collector authenticated it as 'frontend@wms.example.org', configured 'fe1@fe.example.org'",
        "seals secrets for key id(s) feedfeedfeedfeed this factory no longer has",
    )
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("frontend seen: frontend=fe1") and "no longer has" in line


def test_an_expired_glideclientglobal_is_refused() -> None:
    """A copy re-advertised after the frontend stopped: its signed ReqExpiry has passed."""
    watch = FrontendWatch(KNOWN)
    old = classads.from_dict(
        global_ad(ClientGlobal("g@f1", "fe1", "fe1@fe.example.org", ["main"], 1, 1), FE_KEY, 1000.0)
    )
    assert watch.update([old], [SEAL_ID], 1000.0 + 300 + 60)
    assert not watch.update([old], [SEAL_ID], 1000.0 + 300 + 61)
    assert "expired request" in str(watch.status()["refused"])
