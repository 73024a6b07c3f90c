"""Credential choice per entry, and tokens reused while fresh, re-minted after half their lifetime."""

from __future__ import annotations

from pathlib import Path

from glidein.common import tokens
from glidein.common.config.frontend import Credential
from glidein.frontend import idtokens
from glidein.frontend.credentials import TokenMinter, choose


def creds(tmp: Path) -> list[Credential]:
    tokens.generate_key(tmp / "pool.key")
    (tmp / "POOL").write_bytes(idtokens.scramble(b"condor-pool-password"))
    (tmp / "POOL").chmod(0o600)
    return [
        Credential(name="embedded", type="token", pool_key=str(tmp / "pool.key"), lifetime=100),
        Credential(
            name="condor", type="idtoken", pool_key=str(tmp / "POOL"), lifetime=100, issuer="pool.example"
        ),
    ]


def test_choose_by_supported_auth_methods(tmp_path: Path) -> None:
    embedded, condor = creds(tmp_path)
    assert choose([embedded, condor], "idtoken, scitoken") is condor
    assert choose([embedded, condor], "token") is embedded
    assert choose([embedded, condor], None) is embedded
    assert choose([condor], "token") is condor  # nothing fits: the group's first
    assert choose([], "token") is None


def test_tokens_reused_while_fresh(tmp_path: Path) -> None:
    embedded, condor = creds(tmp_path)
    now = [1000.0]
    minter = TokenMinter("127.0.0.1:9619", clock=lambda: now[0])
    first = minter.token(embedded, "fe.main", "ce1@gl@fac")
    assert minter.token(embedded, "fe.main", "ce1@gl@fac") == first
    assert minter.token(embedded, "fe.main", "ce2@gl@fac") != first  # per entry
    now[0] += 51  # less than half the lifetime left
    again = minter.token(embedded, "fe.main", "ce1@gl@fac")
    assert again != first
    claims = tokens.verify(tokens.load_key(tmp_path / "pool.key"), again, "startd", now=now[0])
    assert claims["iss"] == "127.0.0.1:9619" and claims["exp"] == 1151

    idtoken = minter.token(condor, "fe.main", "ce1@gl@fac")
    key = idtokens.load_signing_key(tmp_path / "POOL")
    claims = idtokens.verify(key, idtoken, now=now[0])
    assert claims["iss"] == "pool.example" and claims["sub"] == "fe.main@pool.example"  # for ALLOW_*
    assert claims["scope"] == "condor:/READ condor:/ADVERTISE_STARTD condor:/ADVERTISE_MASTER"
