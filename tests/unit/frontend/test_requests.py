"""Factory ads verified; requests the factory's own validator accepts and decrypts; glideresource ads."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from glidein.common import classads, crypto
from glidein.common.classads import ClassAd
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator
from glidein.frontend.requests import (
    Request,
    ResourceAd,
    ResourceInfo,
    Sequencer,
    request_ad,
    resource_ad,
    verify_entries,
)

FACTORY_SIGN = crypto.generate_signing_key()
FACTORY_BOX = crypto.generate_box_key()
FRONTEND_SIGN = crypto.generate_signing_key()
TRUSTED = {"fac": crypto.public_key_b64(FACTORY_SIGN)}


def entry_ad(name: str = "ce1", key: object = FACTORY_SIGN, **extra: object) -> ClassAd:
    values: dict[str, object] = {
        "MyType": "glidefactory",
        "Name": f"{name}@gl@fac",
        "FactoryName": "fac",
        "GlideinName": "gl",
        "EntryName": name,
        "GLIDEIN_Site": "SiteA",
        "GLIDEIN_CPUS": 4,
        "GLIDEIN_In_Downtime": False,
        "GlideinConfigMaxIdle": 50,
        "PubKeyType": "X25519",
        "PubKeyID": crypto.key_id(FACTORY_BOX.public_key()),
        "PubKeyValue": crypto.public_key_b64(FACTORY_BOX.public_key()),
        "FactorySigningKey": crypto.public_key_b64(key),  # type: ignore[arg-type]
        "ClassAdLifetime": 300,
    }
    values.update(extra)
    ad = classads.from_dict(values)
    crypto.sign_ad(ad, key)  # type: ignore[arg-type]
    return ad


def test_only_trusted_correctly_signed_entries_are_used(caplog: pytest.LogCaptureFixture) -> None:
    good = entry_ad("ce1")
    good["LastHeardFrom"] = 123  # added by the collector: not signed, not used
    tampered = entry_ad("ce2")
    tampered["GLIDEIN_CPUS"] = 64
    other_key = crypto.generate_signing_key()
    forged = entry_ad("ce3", key=other_key)  # signed with its own key, claims to be "fac"
    stranger = entry_ad("ce4", FactoryName="stranger")
    with caplog.at_level(logging.WARNING):
        entries = verify_entries([good, tampered, forged, stranger], TRUSTED)
    assert [e.name for e in entries] == ["ce1@gl@fac"]
    assert "LastHeardFrom" not in entries[0].ad and entries[0].attr("GLIDEIN_CPUS") == 4
    text = caplog.text
    assert "ce2@gl@fac" in text and "bad GlideinSignature" in text
    assert "ce3@gl@fac" in text and "not the trusted key" in text
    assert "ce4@gl@fac" in text and "not trusted" in text


def test_request_accepted_and_opened_by_the_factory(tmp_path: Path) -> None:
    entry = verify_entries([entry_ad()], TRUSTED)[0]
    req = Request(
        entry,
        "fe",
        "main",
        "frontend",
        req_idle=12,
        req_max=40,
        remove_excess="WAIT",
        remove_margin=2,
        params={"GLIDEIN_Collector": "127.0.0.1:9618"},
        secrets={"GLIDEIN_Token": "s3cr3t-token"},
    )
    ad = request_ad(req, FRONTEND_SIGN, Sequencer(tmp_path / "seq").next(), 300)
    assert "s3cr3t" not in classads.to_new(ad)

    def validator() -> RequestValidator:
        return RequestValidator(
            {"fe": FrontendTrust.from_keys("fe", [crypto.public_key_b64(FRONTEND_SIGN)])},
            {crypto.key_id(FACTORY_BOX.public_key()): FACTORY_BOX},
            ["ce1@gl@fac"],
            MemorySequences(),
        )

    valid = validator().validate(ad)
    assert (valid.request.req_idle, valid.request.req_max, valid.request.remove_excess) == (12, 40, "WAIT")
    assert valid.secrets == {"GLIDEIN_Token": "s3cr3t-token"}
    assert valid.params["GLIDEIN_Collector"] == "127.0.0.1:9618"
    # one changed number breaks the signature
    ad["ReqIdleGlideins"] = 1000
    with pytest.raises(Exception, match="GlideinSignature"):
        validator().validate(ad)


def test_sequence_strictly_increasing_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "adsequence"
    first = Sequencer(path, clock=lambda: 1000.0)
    a, b = first.next(), first.next()
    again = Sequencer(path, clock=lambda: 1.0)  # clock went back: still increasing
    assert a < b < again.next()
    assert Sequencer(tmp_path / "lost", clock=lambda: 2000.0).next() > b  # lost state: the clock carries it


def test_resource_ad_like_glideinwms() -> None:
    entry = verify_entries([entry_ad()], TRUSTED)[0]
    info = ResourceInfo(
        jobs_idle=7, jobs_idle_matching=9, glideins_idle=2, request_idle=3, request_max_run=11
    )
    ad = resource_ad(
        ResourceAd(
            entry,
            "fe",
            "main",
            info,
            {"GlideClientMatchingGlideinCondorExpr": "true"},
            {"CurbIdleGlideinsPerEntry": "count=5, curb=5", "TotalGlideinsPerEntry": "count=9, limit=9"},
            "limits.idle_vms_per_entry.curb",
        )
    )
    got = classads.to_dict(ad)
    assert got["MyType"] == "glideresource" and got["Name"] == "ce1@gl@fac@fe.main"
    assert got["GlideClientMonitorJobsIdle"] == 7 and got["GlideClientMonitorGlideinsRequestMaxRun"] == 11
    assert got["GlideClientCurbIdleGlideinsPerEntry"] == "count=5, curb=5"
    assert got["GlideClientLimitTotalGlideinsPerEntry"] == "count=9, limit=9"
    assert got["GLIDEIN_Site"] == "SiteA" and got["GlideFactoryConfigMaxIdle"] == 50
    assert got["GLIDEIN_In_Downtime"] == "False"
    assert "PubKeyValue" not in got and "GlideinSignature" not in got


def test_sequence_block_saved_before_use(tmp_path: Path) -> None:
    path = tmp_path / "adsequence"
    block = Sequencer(path, clock=lambda: 5.0).block(3)
    assert list(block) == [5000, 5001, 5002]
    assert path.read_text().strip() == "5002"
    assert Sequencer(path, clock=lambda: 5.0).next() == 5003
