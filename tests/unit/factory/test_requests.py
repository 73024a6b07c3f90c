"""Request validation: only signed, fresh, allowed, decryptable requests pass."""

from __future__ import annotations

import logging

import pytest

from glidein.common import crypto
from glidein.common.errors import GlideinError, ProtocolError, SecurityError
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator, validate_all

ENTRY = "e1@g@f"


class World:
    def __init__(self) -> None:
        self.fe_key = crypto.generate_signing_key()
        self.box = crypto.generate_box_key()
        self.box_pub = crypto.public_key_b64(self.box)
        trust = FrontendTrust.from_keys("fe1", [crypto.public_key_b64(self.fe_key)], ["frontend"])
        self.seqs = MemorySequences()
        self.validator = RequestValidator(
            {"fe1": trust}, {crypto.key_id(self.box_pub): self.box}, [ENTRY], self.seqs
        )

    def ad(self, seq: int = 1, **kw: object) -> dict[str, object]:
        req = ClientRequest(ENTRY, "fe1", "main", 5, 20, seq, secrets={"GLIDEIN_Token": "tok"}, **kw)  # type: ignore[arg-type]
        return request_ad(req, self.fe_key, self.box_pub)


def test_valid_request_is_read() -> None:
    w = World()
    v = w.validator.validate(w.ad(params={"GLIDEIN_Collector": "127.0.0.1:9618"}))
    assert v.request.req_idle == 5 and v.request.req_max == 20 and v.request.client == "fe1.main"
    assert v.secrets == {"GLIDEIN_Token": "tok"}
    assert v.params == {"GLIDEIN_Collector": "127.0.0.1:9618"}
    assert v.entry == ENTRY and v.credential_id and "tok" not in v.credential_id


def test_same_ad_read_again_is_fine_older_is_replay() -> None:
    w = World()
    first, second = w.ad(seq=1), w.ad(seq=2)
    w.validator.validate(first)
    w.validator.validate(first)
    w.validator.validate(second)
    with pytest.raises(SecurityError, match="replayed"):
        w.validator.validate(first)
    with pytest.raises(SecurityError, match="replayed"):
        w.validator.validate(w.ad(seq=2))  # same sequence, other content (new seal)


def test_forged_and_unsigned_and_foreign_key() -> None:
    w = World()
    forged = w.ad()
    forged["ReqIdleGlideins"] = 500
    unsigned = w.ad()
    del unsigned["GlideinSignature"]
    foreign = request_ad(
        ClientRequest(ENTRY, "fe1", "main", 5, 20, 3), crypto.generate_signing_key(), w.box_pub
    )
    for ad in (forged, unsigned, foreign):
        with pytest.raises(SecurityError):
            w.validator.validate(ad)


def test_unknown_frontend_class_entry_and_factory_key() -> None:
    w = World()
    other = request_ad(ClientRequest(ENTRY, "fe2", "main", 1, 1, 1), w.fe_key, w.box_pub)
    with pytest.raises(SecurityError, match="not allowed"):
        w.validator.validate(other)
    with pytest.raises(SecurityError, match="security class"):
        w.validator.validate(w.ad(security_class="admin"))
    stray = request_ad(ClientRequest("e9@g@f", "fe1", "main", 1, 1, 1, "frontend"), w.fe_key, w.box_pub)
    with pytest.raises(ProtocolError, match="not an entry"):
        w.validator.validate(stray)
    sealed_for_other = request_ad(
        ClientRequest(ENTRY, "fe1", "main", 1, 1, 9, "frontend", secrets={"t": "x"}),
        w.fe_key,
        crypto.public_key_b64(crypto.generate_box_key()),
    )
    with pytest.raises(SecurityError, match="ReqPubKeyID"):
        w.validator.validate(sealed_for_other)


def test_bad_values() -> None:
    w = World()
    with pytest.raises(ProtocolError, match="ReqRemoveExcess"):
        w.validator.validate(w.ad(remove_excess="SOME"))
    bad = ClientRequest(ENTRY, "fe1", "main", -1, 20, 1, "frontend")
    with pytest.raises(ProtocolError, match="ReqIdleGlideins"):
        w.validator.validate(request_ad(bad, w.fe_key, w.box_pub))


def test_validate_all_skips_bad_with_one_line_and_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    w = World()
    good, bad = w.ad(seq=1), w.ad(seq=2)
    bad["ReqMaxGlideins"] = 1000
    with caplog.at_level(logging.WARNING):
        out = validate_all(w.validator, [bad, good, {"Name": "junk"}])
    assert [v.sequence for v in out] == [1]
    assert len(caplog.records) == 2
    assert all("tok" not in r.getMessage() for r in caplog.records)
    assert isinstance(SecurityError("x"), GlideinError)


def test_cached_answer_never_uses_altered_values() -> None:
    w = World()
    ad = w.ad(seq=4)
    assert w.validator.validate(ad).request.req_idle == 5
    ad["ReqIdleGlideins"] = 999  # same Name, sequence and signature, altered content
    assert w.validator.validate(ad).request.req_idle == 5
    other = w.ad(seq=5)
    other["ReqIdleGlideins"] = 999  # a new sequence is verified again
    with pytest.raises(SecurityError):
        w.validator.validate(other)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def clocked(now: float) -> tuple[World, Clock]:
    w, clock = World(), Clock(now)
    w.validator.clock = clock
    return w, clock


def test_replayed_after_the_frontend_stopped_expires() -> None:
    """The frontend's last signed ad, re-advertised by anyone after it stopped, gets 0 pilots."""
    w, clock = clocked(1_000_000.0)
    req = ClientRequest(ENTRY, "fe1", "main", 5, 20, 1, lifetime=300)
    last = request_ad(req, w.fe_key, w.box_pub, now=clock.now)
    assert last["ReqExpiry"] == 1_000_300
    assert w.validator.validate(last).request.req_idle == 5
    clock.now += 300 + 60  # its lifetime and the skew allowance: still honoured
    w.validator.validate(last)
    clock.now += 1  # then never again, also from the cache of ads read before
    with pytest.raises(SecurityError, match="expired"):
        w.validator.validate(last)


def test_request_without_expiry_is_refused_clearly() -> None:
    w, _ = clocked(1_000_000.0)
    ad = w.ad()
    del ad["ReqExpiry"]
    del ad["GlideinSignature"]
    ad["GlideinSignedAttrs"] = ",".join(sorted(a for a in ad if a != "GlideinSignedAttrs"))
    crypto.sign_ad(ad, w.fe_key)
    with pytest.raises(ProtocolError, match="no signed ReqExpiry"):
        w.validator.validate(ad)


def test_far_future_expiry_is_refused_and_future_sequence_does_not_lock_out() -> None:
    w, clock = clocked(1_000_000.0)
    far = request_ad(ClientRequest(ENTRY, "fe1", "main", 1, 1, 10**15, lifetime=10**9), w.fe_key, w.box_pub)
    with pytest.raises(SecurityError, match="too far in the future"):
        w.validator.validate(far)
    # A huge sequence accepted once (a frontend whose clock jumped) judges others only while unexpired
    jump = ClientRequest(ENTRY, "fe1", "main", 1, 1, 10**15, lifetime=300)
    w.validator.validate(request_ad(jump, w.fe_key, w.box_pub, now=clock.now))
    fixed = ClientRequest(ENTRY, "fe1", "main", 7, 9, 2, lifetime=300)
    with pytest.raises(SecurityError, match="replayed"):
        w.validator.validate(request_ad(fixed, w.fe_key, w.box_pub, now=clock.now))
    clock.now += 400
    assert w.validator.validate(request_ad(fixed, w.fe_key, w.box_pub, now=clock.now)).request.req_idle == 7


def test_a_request_resigned_around_the_same_sealed_blob_is_opened_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The frontend signs its requests anew each cycle but reuses the sealed secrets: the factory
    verifies every signature, and opens the blob once; another blob is opened (and checked)."""
    w = World()
    opened: list[str] = []
    real_open = crypto.open_sealed

    def counting(private: object, blob: str, aad: str) -> bytes:
        opened.append(blob)
        return real_open(private, blob, aad)  # type: ignore[arg-type]

    monkeypatch.setattr(crypto, "open_sealed", counting)
    blobs: dict[tuple[str, bytes, str], str] = {}

    def seal_once(public: str, plaintext: bytes, aad: str) -> str:
        return blobs.setdefault((public, plaintext, aad), crypto.seal(public, plaintext, aad))

    def ad(seq: int, token: str = "tok", **kw: object) -> dict[str, object]:
        req = ClientRequest(ENTRY, "fe1", "main", 5, 20, seq, secrets={"GLIDEIN_Token": token})
        return {**request_ad(req, w.fe_key, w.box_pub, seal=seal_once), **kw}

    for seq in (1, 2, 3):
        assert w.validator.validate(ad(seq)).secrets == {"GLIDEIN_Token": "tok"}
    assert len(opened) == 1
    assert w.validator.validate(ad(4, token="new")).secrets == {"GLIDEIN_Token": "new"}
    assert len(opened) == 2
    with pytest.raises(SecurityError):  # a blob swapped into a signed ad: the signature says no
        w.validator.validate(ad(5, GlideinEncParams=ad(6, token="x")["GlideinEncParams"]))
