"""Signed entry ads are signed again only when they change; client ads re-sent when they change."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from glidein.common import crypto
from glidein.factory import ads
from glidein.factory.advertise import ClientAds, SignedAds
from glidein.factory.entry import ClientOutcome
from glidein.factory.keys import load_keys

IDENT = ads.Identity("f1", "g", 300)


def _entry_ad(keys: object, idle: int) -> dict[str, object]:
    entry = SimpleNamespace(name="e1", attrs={}, submitter=SimpleNamespace(type="local"))
    st = ads.EntryState(False, "", idle, 0, 0, 0.0)
    return ads.entry_ad(IDENT, keys, entry, {"WebURL": "http://x"}, st)  # type: ignore[arg-type]


def test_an_unchanged_entry_ad_keeps_its_signature_and_a_changed_one_is_signed_anew(tmp_path: Path) -> None:
    keys = load_keys(tmp_path / "sign.pem", tmp_path / "box.pem", 86400.0, 3600.0, 1000.0)
    book = SignedAds()
    first = book.signed(_entry_ad(keys, 1), keys)
    assert book.signed(_entry_ad(keys, 1), keys) is first  # same ad: not signed again
    changed = book.signed(_entry_ad(keys, 2), keys)
    assert changed is not first and changed["GlideinMonitorTotalStatusIdle"] == 2
    public = crypto.public_key_b64(keys.signing)
    for ad in (first, changed):
        crypto.verify_ad(ad, public)  # both verify with the factory's key
    other = load_keys(tmp_path / "sign2.pem", tmp_path / "box.pem", 86400.0, 3600.0, 1000.0)
    resigned = book.signed(_entry_ad(other, 2), other)  # a new key is in the ad: signed again
    crypto.verify_ad(resigned, crypto.public_key_b64(other.signing))


def test_client_ads_go_out_when_changed_or_a_third_of_their_lifetime_old() -> None:
    sent = ClientAds(IDENT)
    outcome = ClientOutcome("fe.a", 1, 0, 0, 2, 4)
    assert len(sent.changed("e1", [outcome], 1000.0, {})) == 1
    assert sent.changed("e1", [outcome], 1010.0, {}) == []
    assert len(sent.changed("e1", [ClientOutcome("fe.a", 2, 0, 0, 2, 4)], 1020.0, {})) == 1
    assert len(sent.changed("e1", [ClientOutcome("fe.a", 2, 0, 0, 2, 4)], 1020.0 + 100.0, {})) == 1
    sent.forget()
    assert len(sent.changed("e1", [ClientOutcome("fe.a", 2, 0, 0, 2, 4)], 1121.0, {})) == 1


def test_a_changed_ad_verifies_as_the_classad_sent(tmp_path: Path) -> None:
    """Every kind of value an entry ad holds (string, int, float, bool, expression, an expression
    whose text is a literal as closeness's GLIDEIN_BW_<SE>, config text), also after the trip
    through a collector."""
    from glidein.common import classads

    keys = load_keys(tmp_path / "sign.pem", tmp_path / "box.pem", 86400.0, 3600.0, 1000.0)
    ad = _entry_ad(keys, 3) | {
        "GLIDEIN_Feedback_QueueWaitMedian": 35.125,
        "GLIDEIN_Feedback_ValidationRate": 0.9166666666666666,
        "GLIDEIN_Supports_GPU": True,
        "GLIDEIN_Config_STARTD_DEBUG": "$(STARTD_DEBUG) D_SECURITY",
        "GLIDEIN_BW_se1_cern_ch": classads.expr_value("120"),  # signed from the dict: did not verify
        "Requirements": classads.expr_value('TARGET.RequestCpus <= 8 && stringListMember("cms", "a,cms")'),
        "Start": classads.expr_value("ifThenElse(x > 1.5e10, true, undefined)"),
    }
    sent = SignedAds().signed(ad, keys)
    assert crypto.verify_ad(sent, crypto.public_key_b64(keys.signing))["GLIDEIN_BW_se1_cern_ch"] == 120
    wire = classads.from_old_pairs(classads.to_old_pairs(sent))  # as a collector hands it on
    assert crypto.verify_ad(wire, crypto.public_key_b64(keys.signing))["GLIDEIN_Supports_GPU"] is True
