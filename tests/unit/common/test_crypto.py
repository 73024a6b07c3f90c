"""Signatures and sealed parameters: what verifies, what is refused."""

from __future__ import annotations

import stat
from pathlib import Path

import classad2
import htcondor2  # noqa: F401 - imported before classad2 use, as the project requires
import pytest

from glidein.common import crypto
from glidein.common.errors import ConfigError, SecurityError


def _request() -> dict[str, object]:
    return {
        "MyType": "glideclient",
        "Name": "e1@g@f@fe1.main",
        "ReqIdleGlideins": 10,
        "ReqMaxGlideins": 100,
        "ReqRemoveExcess": "NO",
        "GlideinParamGLIDEIN_Collector": "127.0.0.1:9618",
        "Weight": 1.5,
        "Flag": True,
        "Sites": ["a", "b"],
    }


def test_sign_then_verify_returns_only_signed_attributes() -> None:
    key = crypto.generate_signing_key()
    ad = crypto.sign_ad(_request(), key)
    ad["LastHeardFrom"] = 12345  # added later, e.g. by a collector
    signed = crypto.verify_ad(ad, crypto.public_key_b64(key))
    assert signed["ReqIdleGlideins"] == 10
    assert "LastHeardFrom" not in signed
    assert crypto.SIGNATURE_ATTR not in signed


@pytest.mark.parametrize(
    ("attr", "value"),
    [("ReqIdleGlideins", 11), ("ReqIdleGlideins", "10"), ("Flag", 1), ("Name", "other"), ("Sites", ["a"])],
)
def test_tampered_attribute_fails(attr: str, value: object) -> None:
    key = crypto.generate_signing_key()
    ad = crypto.sign_ad(_request(), key)
    ad[attr] = value
    with pytest.raises(SecurityError, match="bad GlideinSignature"):
        crypto.verify_ad(ad, key.public_key())


def test_removed_signed_attribute_fails() -> None:
    key = crypto.generate_signing_key()
    ad = crypto.sign_ad(_request(), key)
    del ad["ReqMaxGlideins"]
    with pytest.raises(SecurityError, match="missing"):
        crypto.verify_ad(ad, key.public_key())


def test_shrunk_signed_list_fails() -> None:
    key = crypto.generate_signing_key()
    ad = crypto.sign_ad(_request(), key)
    ad["GlideinSignedAttrs"] = "Name"
    with pytest.raises(SecurityError):
        crypto.verify_ad(ad, key.public_key())


def test_wrong_key_and_unsigned_fail() -> None:
    ad = crypto.sign_ad(_request(), crypto.generate_signing_key())
    with pytest.raises(SecurityError):
        crypto.verify_ad(ad, crypto.generate_signing_key().public_key())
    with pytest.raises(SecurityError, match="not signed"):
        crypto.verify_ad(_request(), crypto.generate_signing_key().public_key())


def test_signature_survives_classad_old_syntax_round_trip() -> None:
    key = crypto.generate_signing_key()
    ad = classad2.ClassAd()
    for name, value in _request().items():
        ad[name] = value
    ad["Requirements"] = classad2.ExprTree('GLIDEIN_Site  ==  "A" && Memory > 2048')
    crypto.sign_ad(ad, key)
    received = classad2.parseOne(ad.printOld())
    received["MyAddress"] = "<127.0.0.1:9618>"
    signed = crypto.verify_ad(received, crypto.public_key_b64(key))
    assert signed["ReqMaxGlideins"] == 100


def test_signed_dict_verifies_as_classad() -> None:
    key = crypto.generate_signing_key()
    ad = crypto.sign_ad(_request(), key)
    as_classad = classad2.ClassAd()
    for name, value in ad.items():
        as_classad[name] = value
    assert crypto.verify_ad(classad2.parseOne(as_classad.printOld()), key.public_key())


def test_canonical_bytes_are_case_insensitive_and_ordered() -> None:
    a = crypto.canonical_ad_bytes({"B": 1, "a": "x"})
    b = crypto.canonical_ad_bytes({"A": "x", "b": 1})
    assert a == b
    assert crypto.canonical_ad_bytes({"a": 1}) != crypto.canonical_ad_bytes({"a": "1"})


def test_seal_open_round_trip_and_failures() -> None:
    key = crypto.generate_box_key()
    blob = crypto.seal(crypto.public_key_b64(key), b'{"GLIDEIN_Token": "secret"}', "fe1|e1@g@f@fe1.main")
    assert b"secret" not in blob.encode()
    assert crypto.open_sealed(key, blob, "fe1|e1@g@f@fe1.main") == b'{"GLIDEIN_Token": "secret"}'
    with pytest.raises(SecurityError):
        crypto.open_sealed(key, blob, "fe2|e1@g@f@fe1.main")  # wrong aad
    with pytest.raises(SecurityError):
        crypto.open_sealed(crypto.generate_box_key(), blob, "fe1|e1@g@f@fe1.main")  # wrong key
    raw = bytearray(crypto.base64.b64decode(blob))
    raw[-1] ^= 1
    with pytest.raises(SecurityError):
        crypto.open_sealed(key, crypto.base64.b64encode(bytes(raw)).decode(), "fe1|e1@g@f@fe1.main")
    with pytest.raises(SecurityError):
        crypto.open_sealed(key, "not base64!", "x")
    with pytest.raises(SecurityError):
        crypto.open_sealed(key, "AAAA", "x")


def test_key_files_are_private_and_typed(tmp_path: Path) -> None:
    sign_path, box_path = tmp_path / "sign.pem", tmp_path / "box.pem"
    signing, box = crypto.generate_signing_key(), crypto.generate_box_key()
    crypto.save_private_key(signing, sign_path)
    crypto.save_private_key(box, box_path)
    assert stat.S_IMODE(sign_path.stat().st_mode) == 0o600
    assert crypto.key_id(crypto.load_signing_key(sign_path)) == crypto.key_id(signing)
    assert crypto.key_id(crypto.load_box_key(box_path)) == crypto.key_id(crypto.public_key_b64(box))
    with pytest.raises(ConfigError, match="not an Ed25519"):
        crypto.load_signing_key(box_path)
    with pytest.raises(ConfigError, match="cannot read"):
        crypto.load_box_key(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ConfigError, match="not a PEM"):
        crypto.load_box_key(tmp_path / "junk.pem")


def test_bad_public_key_text() -> None:
    with pytest.raises(SecurityError, match="base64"):
        crypto.verify_key_from_b64("@@@")
    with pytest.raises(SecurityError, match="bytes"):
        crypto.box_key_from_b64("AAAA")
