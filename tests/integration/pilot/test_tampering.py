"""One byte changed anywhere in the stage, or a wrong -sign / -signkey: Corruption before any script runs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glidein.common import crypto
from tests.integration.pilot.helpers import StageSite, mark_script
from tests.procs import Processes

SIGN_ARGS = ("-sign", "-signentry", "-clientsign", "-clientsigngroup")


def _signed_site(tmp_path: Path, processes: Processes, algorithm: str, signed: bool) -> StageSite:
    key_path = None
    if signed:
        key_path = tmp_path / "stage.key"
        crypto.save_private_key(crypto.generate_signing_key(), key_path)
    site = StageSite(tmp_path, processes, algorithm=algorithm, signing_key=key_path)
    site.extra = {
        "main": [mark_script(tmp_path, "m1", 0)],
        "entry": [mark_script(tmp_path, "e1s", 2)],
        "client": [mark_script(tmp_path, "c1", 3)],
        "group": [mark_script(tmp_path, "g1", 4)],
    }
    site.stage()
    site.serve()
    return site


def _assert_corruption(site: StageSite, pilot_id: str, argv: list[str], what: str) -> None:
    proc = site.run_pilot(argv)
    assert proc.returncode == 5, f"{what}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    report = site.report(pilot_id)
    assert report["failure_class"] == "Corruption", what
    assert report["results"] == [] and report["startd"] is None, what
    assert list(site.markers.iterdir()) == [], f"{what}: a script ran"


@pytest.mark.parametrize(("algorithm", "signed"), [("sha1", False), ("sha256", True)])
def test_one_byte_changed_in_any_staged_file_is_corruption(
    tmp_path: Path, processes: Processes, algorithm: str, signed: bool
) -> None:
    site = _signed_site(tmp_path, processes, algorithm, signed)
    assert site.run_pilot(site.pilot_argv("ok")).returncode == 0  # untouched stage works
    (site.markers / "order").unlink()
    (site.markers / "startd").unlink()
    victims = sorted(p for p in site.stage_dir.iterdir() if p.name not in ("stages.json", "current.json"))
    kinds = {p.name.split(".")[0] for p in victims}
    assert {"description", "signature", "startd_bundle", "check_disk", "constants", "g1"} <= kinds
    assert any(p.suffix == ".ed25519" for p in victims) == signed
    for index, victim in enumerate(victims):
        original = victim.read_bytes()
        victim.write_bytes(original[:-1] + bytes([original[-1] ^ 0x01]))
        try:
            _assert_corruption(site, f"t{index}", site.pilot_argv(f"t{index}"), victim.name)
        finally:
            victim.write_bytes(original)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_wrong_sign_argument_is_corruption(tmp_path: Path, processes: Processes, algorithm: str) -> None:
    site = _signed_site(tmp_path, processes, algorithm, signed=False)
    for index, option in enumerate(SIGN_ARGS):
        argv = site.pilot_argv(f"s{index}")
        position = argv.index(option) + 1
        argv[position] = argv[position][:-1] + ("0" if argv[position][-1] != "0" else "1")
        _assert_corruption(site, f"s{index}", argv, option)


def test_wrong_signing_key_is_corruption(tmp_path: Path, processes: Processes) -> None:
    site = _signed_site(tmp_path, processes, "sha256", signed=True)
    argv = site.pilot_argv("k1")
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    argv[argv.index("-signkey") + 1] = base64.b64encode(other).decode()
    _assert_corruption(site, "k1", argv, "foreign -signkey")
    # Another level's (validly signed) description cannot pass for the main one.
    argv = site.pilot_argv("k2")
    argv[argv.index("-descript") + 1] = argv[argv.index("-descriptentry") + 1]
    _assert_corruption(site, "k2", argv, "-descript naming the entry description")
