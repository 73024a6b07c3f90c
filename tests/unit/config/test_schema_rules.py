"""Rules inside the schemas that a type alone cannot express (cross-field checks, pairs, references)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from glidein.common.config import ConfigProblems, load_factory_config, load_frontend_config

ETC = Path(__file__).resolve().parents[3] / "etc"


def edited(tmp_path: Path, name: str, edit: dict[str, object]) -> Path:
    """The example config `name` with top-level keys replaced by `edit`, written to tmp_path."""
    data = yaml.safe_load((ETC / name).read_text())
    data.update(edit)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def frontend_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigProblems) as info:
        load_frontend_config(path)
    return [line.split(": ", 1)[1] for line in info.value.lines]


def factory_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigProblems) as info:
        load_factory_config(path)
    return [line.split(": ", 1)[1] for line in info.value.lines]


def test_curb_above_max_is_rejected(tmp_path: Path) -> None:
    path = edited(tmp_path, "frontend.yaml", {"limits": {"idle_vms_total": {"max": 10, "curb": 20}}})
    (problem,) = frontend_problems(path)
    assert problem.startswith("limits.idle_vms_total: curb (20) must be <= max (10)")


def test_embedded_schedd_needs_url(tmp_path: Path) -> None:
    path = edited(
        tmp_path, "frontend.yaml", {"schedds": [{"name": "s1"}, {"name": "s2", "type": "htcondor"}]}
    )
    (problem,) = frontend_problems(path)
    assert problem.startswith("schedds[0]: an embedded schedd needs `url`")


def test_frontend_cross_references(tmp_path: Path) -> None:
    data = yaml.safe_load((ETC / "frontend.yaml").read_text())
    groups = data["groups"]
    groups[1]["credentials"] = ["pool_token", "missing_token"]
    groups[2]["name"] = "main"
    path = edited(tmp_path, "frontend.yaml", {"groups": groups})
    problems = frontend_problems(path)
    assert problems[0].startswith("groups[2].name: duplicate group name 'main' (first at index 0)")
    assert problems[1].startswith("groups[1].credentials[1]: unknown credential 'missing_token'")


def test_group_with_no_credentials_listed_uses_all(tmp_path: Path) -> None:
    config = load_frontend_config(ETC / "frontend.yaml")
    assert [c.name for c in config.group_credentials(config.groups[2])] == ["pool_token", "analysis_token"]


def test_token_lifetime_is_bounded(tmp_path: Path) -> None:
    data = yaml.safe_load((ETC / "frontend.yaml").read_text())
    data["credentials"][0]["lifetime"] = 30 * 86400
    path = edited(tmp_path, "frontend.yaml", {"credentials": data["credentials"]})
    (problem,) = frontend_problems(path)
    assert problem.startswith("credentials[0].lifetime: must be <= 604800, got 2592000")


def test_tls_cert_needs_key(tmp_path: Path) -> None:
    data = yaml.safe_load((ETC / "factory.yaml").read_text())
    data["staging"]["tls_cert"] = "cert.pem"
    path = edited(tmp_path, "factory.yaml", {"staging": data["staging"]})
    (problem,) = factory_problems(path)
    assert problem.startswith("staging: tls_cert and tls_key go together")


def test_downtime_and_limits_reference_known_frontends(tmp_path: Path) -> None:
    data = yaml.safe_load((ETC / "factory.yaml").read_text())
    slurm = data["entries"][2]
    slurm["downtimes"].append({"frontend": "vofe_cms", "security_class": "nosuch"})
    slurm["downtimes"].append({"frontend": "ghost"})
    slurm["limits"]["per_frontend"]["vofe_osg:production"] = {"max_idle": 1}
    path = edited(tmp_path, "factory.yaml", {"entries": data["entries"]})
    assert [p.split(" (line")[0] for p in factory_problems(path)] == [
        "entries[2].limits.per_frontend['vofe_osg:production']: "
        "unknown frontend or security class 'vofe_osg:production'",
        "entries[2].downtimes[1].security_class: unknown security class 'nosuch' of frontend 'vofe_cms'",
        "entries[2].downtimes[2].frontend: unknown frontend 'ghost'",
    ]


def test_downtime_end_after_start(tmp_path: Path) -> None:
    data = yaml.safe_load((ETC / "factory.yaml").read_text())
    data["entries"][2]["downtimes"] = [{"start": "2026-05-02T00:00:00Z", "end": "2026-05-01T00:00:00Z"}]
    path = edited(tmp_path, "factory.yaml", {"entries": data["entries"]})
    (problem,) = factory_problems(path)
    assert problem.startswith("entries[2].downtimes[0]: end must be after start")


def test_bad_public_key_and_address(tmp_path: Path) -> None:
    data = yaml.safe_load((ETC / "factory.yaml").read_text())
    data["frontends"][1]["signing_keys"] = ["bm90IGEga2V5"]
    path = edited(tmp_path, "factory.yaml", {"frontends": data["frontends"], "collectors": ["localhost"]})
    assert [p.split(" (line")[0] for p in factory_problems(path)] == [
        "collectors[0]: invalid address 'localhost': expected host:port",
        "frontends[1].signing_keys[0]: expected a base64 raw 32-byte public key, got 9 bytes",
    ]


def test_staged_files_resolve_paths_and_name_frontends(tmp_path: Path) -> None:
    data = yaml.safe_load((ETC / "factory.yaml").read_text())
    data["staging"]["files"] = [{"path": "scripts/check.sh", "order": 20}]
    data["staging"]["frontend_files"] = {"vofe_cms.main": [{"path": "/opt/env.sh", "kind": "source"}]}
    data["entries"][0]["files"] = [{"path": "site.tar.gz", "kind": "untar", "untar_dir": "site"}]
    path = edited(tmp_path, "factory.yaml", {"staging": data["staging"], "entries": data["entries"]})
    config = load_factory_config(path)
    assert config.staging.files[0].path == tmp_path / "scripts" / "check.sh"
    assert config.staging.files[0].kind == "exec" and config.staging.files[0].timeout == 600
    assert config.staging.frontend_files["vofe_cms.main"][0].kind == "source"
    assert config.entries[0].files[0].untar_dir == "site"
    data["staging"]["frontend_files"] = {"nobody.main": []}
    data["entries"][0]["files"][0]["kind"] = "tarball"
    path = edited(tmp_path, "factory.yaml", {"staging": data["staging"], "entries": data["entries"]})
    (problem,) = factory_problems(path)
    assert problem.startswith("entries[0].files[0].kind: must be 'exec', 'source', 'config', 'untar' or")
    data["entries"][0]["files"][0]["kind"] = "untar"
    path = edited(tmp_path, "factory.yaml", {"staging": data["staging"], "entries": data["entries"]})
    (problem,) = factory_problems(path)
    assert problem.startswith("staging.frontend_files['nobody.main']: unknown frontend in 'nobody.main'")
