"""Security against real HTCondor daemons: who may advertise, and signatures that survive them.

- the IDTOKEN the frontend mints for its pilots is accepted by the real users' collector (a
  startd ad advertised with it is kept and attributed to `<frontend>.<group>@<trust domain>`); a
  token signed with another pool's key is refused;
- a client without a token cannot advertise on the WMS collector; with the frontend's token it
  can, and the glideclient ad comes back from condor_collector with its Ed25519 signature intact:
  the factory accepts it with the frontend's key and refuses it with any other key.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import htcondor2
import pytest

from glidein.common import classads, crypto
from glidein.common.bus import Bus
from glidein.common.condor_auth import use_token_dir
from glidein.common.config.frontend import Credential
from glidein.common.errors import BusError, ConfigError, SecurityError
from glidein.common.glideclient import ClientRequest, request_ad
from glidein.factory.requests import FrontendTrust, MemorySequences, RequestValidator
from glidein.frontend import idtokens
from glidein.frontend.credentials import TokenMinter
from glidein.pool.condor.personal import CondorPool
from tests.integration.condor.conftest import FRONTEND_GROUP_USERS, FRONTEND_WMS

SETTINGS = ("SEC_TOKEN_DIRECTORY", "SEC_CLIENT_AUTHENTICATION_METHODS")


@pytest.fixture
def client_settings() -> Iterator[None]:
    """use_token_dir changes this process's HTCondor client settings: put them back after."""
    saved = {name: htcondor2.param.get(name) for name in SETTINGS}
    yield
    for name, value in saved.items():
        if value is None:
            htcondor2.param.pop(name, None)
        else:
            htcondor2.param[name] = value


def _advertise_startd(pool: CondorPool, token_dir: Path, ad_file: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **pool.env(), _CONDOR_SEC_TOKEN_DIRECTORY=str(token_dir))
    env["_CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS"] = "IDTOKENS"
    argv = [str(pool.release.program("condor_advertise")), "UPDATE_STARTD_AD", str(ad_file)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_frontend_minted_idtoken_is_accepted_by_the_users_collector(
    users_pool: CondorPool, tmp_path: Path
) -> None:
    cred = Credential(name="pool", type="idtoken", pool_key=users_pool.pool_key, lifetime=600)
    token = TokenMinter(users_pool.spec.trust_domain).token(cred, "fe.main", "ce1@gl@fac")
    good = tmp_path / "good"
    good.mkdir(mode=0o700)
    (good / "pilot.token").write_text(token)
    os.chmod(good / "pilot.token", 0o600)
    ad = tmp_path / "slot.ad"
    ad.write_text(
        'MyType = "Machine"\nName = "slot1@minted-token-check"\nMachine = "minted-token-check"\n'
        'StartdIpAddr = "<127.0.0.1:9>"\nMyAddress = "<127.0.0.1:9>"\nClassAdLifetime = 60\n'
    )
    done = _advertise_startd(users_pool, good, ad)
    assert done.returncode == 0, done.stdout + done.stderr
    query = ["condor_status", "-const", 'Machine == "minted-token-check"', "-af", "AuthenticatedIdentity"]
    deadline, seen = time.monotonic() + 10, ""
    while time.monotonic() < deadline and not seen:
        seen = users_pool.tool(*query).strip()
        time.sleep(0.3)
    assert seen == FRONTEND_GROUP_USERS

    forged = tmp_path / "forged"
    forged.mkdir(mode=0o700)
    other_key = idtokens.signing_key(os.urandom(32))
    (forged / "pilot.token").write_text(idtokens.mint(other_key, "fe.main@127.0.0.1", "127.0.0.1"))
    os.chmod(forged / "pilot.token", 0o600)
    ad.write_text(ad.read_text().replace("minted-token-check", "forged-token-check"))
    assert _advertise_startd(users_pool, forged, ad).returncode != 0
    time.sleep(1)
    assert "forged" not in users_pool.tool("condor_status", "-af", "Machine")


def test_glideclient_through_condor_collector_keeps_its_signature(
    wms_pool: CondorPool, tmp_path: Path, client_settings: None
) -> None:
    frontend_key, other_key = crypto.generate_signing_key(), crypto.generate_signing_key()
    box = crypto.generate_box_key()
    request = ClientRequest("ce1@gl@fac", "fe", "main", req_idle=7, req_max=9, sequence=1)
    ad = classads.from_dict(request_ad(request, frontend_key, crypto.public_key_b64(box)))

    htcondor2.param["SEC_CLIENT_AUTHENTICATION_METHODS"] = "IDTOKENS"
    htcondor2.param["SEC_TOKEN_DIRECTORY"] = str(tmp_path / "empty")
    with pytest.raises(BusError, match="advertise"):
        Bus([wms_pool.collector], timeout=5, retries=0).advertise([ad])  # no token: refused

    tokens = tmp_path / "tokens"
    wms_pool.write_token(tokens, FRONTEND_WMS, ("READ", "DAEMON"))
    use_token_dir(tokens)
    bus = Bus([wms_pool.collector], timeout=10, retries=1)
    bus.advertise([ad])
    deadline, got = time.monotonic() + 10, []
    while time.monotonic() < deadline and not got:
        got = bus.query("glideclient", 'ReqName == "ce1@gl@fac"')
        time.sleep(0.3)
    assert len(got) == 1 and classads.eval_attr(got[0], "AuthenticatedIdentity") == FRONTEND_WMS

    def validator(public: str) -> RequestValidator:
        trust = {"fe": FrontendTrust.from_keys("fe", [public])}
        keys = {crypto.key_id(box.public_key()): box}
        return RequestValidator(trust, keys, ["ce1@gl@fac"], MemorySequences())

    valid = validator(crypto.public_key_b64(frontend_key)).validate(got[0])
    assert (valid.request.req_idle, valid.request.req_max) == (7, 9)
    with pytest.raises(SecurityError):
        validator(crypto.public_key_b64(other_key)).validate(got[0])


def test_token_directory_must_be_private(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    (loose / "t.token").write_text("x")
    with pytest.raises(ConfigError, match=r"condor_tokens: .*loose: token directory open to others"):
        use_token_dir(loose)
    os.chmod(loose, 0o700)
    os.chmod(loose / "t.token", 0o644)
    with pytest.raises(ConfigError, match=r"t\.token: token readable by others"):
        use_token_dir(loose)
