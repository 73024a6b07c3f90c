"""Staging: content-addressed names, the hash chain per level, Ed25519, grace period, pilot args."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from glidein.common import crypto
from glidein.common.errors import ConfigError
from glidein.factory import staging
from glidein.factory.staging import StageFile, StagingSpec


def _spec(tmp_path: Path, algorithm: str = "sha256", **kwargs: object) -> StagingSpec:
    extra = tmp_path / "site_check.sh"
    extra.write_text("#!/bin/sh\nexit 0\n")
    return StagingSpec(
        stage_dir=tmp_path / "stage",
        web_url="http://127.0.0.1:1",
        hash_algorithm=algorithm,
        entries={"ce1": [StageFile(extra, "exec", order=60, period=300)]},
        clients={"fe": []},
        groups={"fe.main": []},
        **kwargs,  # type: ignore[arg-type]
    )


def _chain(stage_dir: Path, algorithm: str, level: staging.LevelStage) -> dict[str, object]:
    """Re-check one level's chain independently of the wrapper; return its description."""
    desc_hash = level.descript.split(".")[1]
    sig = (stage_dir / f"signature.{desc_hash}.txt").read_bytes()
    assert hashlib.new(algorithm, sig).hexdigest() == level.sign
    listed = [line.split() for line in sig.decode().splitlines() if not line.startswith("#")]
    assert listed[0][1] == level.descript
    for hexhash, name in listed:
        data = (stage_dir / name).read_bytes()
        assert hashlib.new(algorithm, data).hexdigest() == hexhash
        assert f".{hexhash}." in name  # content-addressed
    return json.loads((stage_dir / level.descript).read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize(("algorithm", "hex_len"), [("sha1", 40), ("sha256", 64)])
def test_every_level_is_chained_and_content_addressed(tmp_path: Path, algorithm: str, hex_len: int) -> None:
    result = staging.stage(_spec(tmp_path, algorithm))
    assert len(result.main.sign) == hex_len
    main = _chain(tmp_path / "stage", algorithm, result.main)
    kinds = {f["orig"]: f["kind"] for f in main["files"]}  # type: ignore[attr-defined]
    assert kinds["glidein_checks.py"] == "source" and kinds["startd_bundle.tar.gz"] == "startd_bundle"
    assert kinds["check_disk.py"] == "source" and kinds["validate_node.py"] == "exec"
    assert kinds["startd_setup.py"] == "exec"
    entry = _chain(tmp_path / "stage", algorithm, result.entries["ce1"])
    assert entry["files"] == [  # type: ignore[comparison-overlap]
        {
            "name": entry["files"][0]["name"],  # type: ignore[index]
            "orig": "site_check.sh",
            "kind": "exec",
            "order": 60,
            "period": 300,
            "timeout": 600,
            "dir": None,
        }
    ]
    _chain(tmp_path / "stage", algorithm, result.clients["fe"])
    _chain(tmp_path / "stage", algorithm, result.groups["fe.main"])
    assert staging.load_result(tmp_path / "stage") == result


def test_pilot_args_per_entry_and_client(tmp_path: Path) -> None:
    result = staging.stage(_spec(tmp_path))
    args = result.pilot_args("ce1", "fe.main")
    flags = args[::2]
    main_entry = ["-web", "-sign", "-signtype", "-descript", "-signentry", "-descriptentry"]
    client = ["-clientweb", "-clientsign", "-clientdescript"]
    group = ["-clientwebgroup", "-clientsigngroup", "-clientdescriptgroup"]
    assert flags == [*main_entry, *client, *group]
    assert result.pilot_args("other")[::2] == ["-web", "-sign", "-signtype", "-descript"]


def test_ed25519_signature_of_each_signature_file(tmp_path: Path) -> None:
    key_path = tmp_path / "stage.key"
    crypto.save_private_key(crypto.generate_signing_key(), key_path)
    result = staging.stage(_spec(tmp_path, signing_key=key_path))
    assert result.public_key and result.pilot_args("ce1")[-2:] == ["-signkey", result.public_key]
    public = crypto.verify_key_from_b64(result.public_key)
    assert isinstance(public, Ed25519PublicKey)
    for level in (result.main, result.entries["ce1"]):
        desc_hash = level.descript.split(".")[1]
        sig = (tmp_path / "stage" / f"signature.{desc_hash}.txt").read_bytes()
        public.verify((tmp_path / "stage" / f"signature.{desc_hash}.ed25519").read_bytes(), sig)


def test_restage_is_stable_and_old_stages_survive_the_grace_period(tmp_path: Path) -> None:
    spec = _spec(tmp_path, grace_period_s=100)
    first = staging.stage(spec, now=1000.0)
    assert staging.stage(spec, now=1001.0).main == first.main  # reproducible: same hashes
    script = spec.entries["ce1"][0].source
    script.write_text("#!/bin/sh\nexit 1\n")
    second = staging.stage(spec, now=1050.0)
    assert second.entries["ce1"].sign != first.entries["ce1"].sign
    old_desc = tmp_path / "stage" / first.entries["ce1"].descript
    assert old_desc.exists()  # within the grace period pilots of the old stage still work
    staging.stage(spec, now=1200.0)
    assert not old_desc.exists()  # past it, files only old stages used are gone
    assert (tmp_path / "stage" / second.entries["ce1"].descript).exists()
    _chain(tmp_path / "stage", "sha256", second.entries["ce1"])


def test_startd_bundle_is_reproducible_and_has_the_contract_paths(tmp_path: Path) -> None:
    bundle = staging.startd_bundle(staging.PACKAGE_ROOT)
    assert bundle == staging.startd_bundle(staging.PACKAGE_ROOT)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(bundle))) as archive:
        names = archive.getnames()
    assert "glidein/__init__.py" in names and "glidein/pool/__init__.py" in names
    assert "glidein/pool/startd/__init__.py" in names
    assert all(n.startswith(("glidein/pool/startd/", "glidein/pool/cedar.py")) for n in names[2:])


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    spec.main = [StageFile(tmp_path / "nope.py")]
    with pytest.raises(ConfigError, match=r"nope\.py: cannot read staged file"):
        staging.stage(spec)
    spec.main = [StageFile(spec.entries["ce1"][0].source, kind="binary")]
    with pytest.raises(ConfigError, match="unknown file kind 'binary'"):
        staging.stage(spec)
    with pytest.raises(ConfigError, match="md5"):
        staging.stage(_spec(tmp_path, "md5"))
    with pytest.raises(ConfigError, match="no readable stage"):
        staging.load_result(tmp_path / "empty")
