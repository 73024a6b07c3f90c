"""An ad from outside whose signed attributes hold a huge expression is refused with one line.

classad2 parses a 60,000-term chain but unparsing it (which signature checking did) overflows the
C stack; the factory's request validator and the frontend's entry reader must refuse such an ad
before anything recursive is done with it, and go on.
"""

from __future__ import annotations

import logging

import pytest

from glidein.common import classads, crypto
from glidein.common.classads import ClassAd, ExprTree
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator, validate_all
from glidein.frontend.requests import verify_entries

ENTRY = "e1@g@f"
DEEP = ExprTree("+".join(["a"] * 60_000))  # parses; its unparse overflowed the stack


def test_factory_refuses_a_request_with_a_deep_signed_attribute(caplog: pytest.LogCaptureFixture) -> None:
    fe_key, box = crypto.generate_signing_key(), crypto.generate_box_key()
    trust = FrontendTrust.from_keys("fe1", [crypto.public_key_b64(fe_key)], ["frontend"])
    validator = RequestValidator({"fe1": trust}, {}, [ENTRY], MemorySequences())
    good = request_ad(ClientRequest(ENTRY, "fe1", "main", 5, 20, 1), fe_key, crypto.public_key_b64(box))
    ad = classads.from_dict(good)
    ad["ReqIdleGlideins"] = DEEP  # listed in GlideinSignedAttrs, signature not checkable
    ad["Name"] = DEEP
    with caplog.at_level(logging.WARNING):
        assert validate_all(validator, [ad]) == []
    assert len(caplog.records) == 1 and "refused" in caplog.records[0].getMessage()
    assert validate_all(validator, [classads.from_dict(good)])[0].request.req_idle == 5  # goes on


def test_frontend_refuses_a_forged_glidefactory_ad(caplog: pytest.LogCaptureFixture) -> None:
    public = crypto.public_key_b64(crypto.generate_signing_key())

    def forged(**deep: ExprTree) -> ClassAd:
        ad = ClassAd()
        ad["MyType"], ad["Name"], ad["FactoryName"] = "glidefactory", "e1@g@f", "f"
        ad["FactorySigningKey"], ad["GLIDEIN_Site"] = public, "SiteA"
        ad["GlideinSignedAttrs"] = "FactoryName,GLIDEIN_Site,Name"
        ad["GlideinSignature"] = "AAAA"
        for name, value in deep.items():
            ad[name] = value
        return ad

    ads = [forged(GLIDEIN_Site=DEEP), forged(FactorySigningKey=DEEP, Name=DEEP, FactoryName=DEEP)]
    with caplog.at_level(logging.WARNING):
        assert verify_entries(ads, {"f": public}) == []
    assert len(caplog.records) == 2


def test_factory_cycle_inputs_skip_deep_names() -> None:
    """The cycle's first look at ads (ReqName, Name) never hashes or unparses an expression."""
    from glidein.factory.frontends import Expectations, FrontendWatch

    ad = ClassAd()
    ad["MyType"], ad["ReqName"], ad["Name"] = "glideclientglobal", "g@f1", DEEP
    watch = FrontendWatch(Expectations({}, {}, "g@f1"))
    assert watch.update([ad], []) == {}
