"""`glidein factory autoconf` against a real slapd loaded with GLUE 2.0 and GLUE 1.3 LDIF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from glidein.common.config import load_factory_config
from tests.integration.autoconf.ldif import glue1_ce_dn, glue1_tree, glue2_share_dn, glue2_tree
from tests.integration.autoconf.support import autoconf_factory, generated
from tests.procs import run_glidein

TREES = {"glue2": ("o=glue", lambda: glue2_tree(5, 2, 5)), "glue1": ("o=grid", lambda: glue1_tree(10, 5))}


@pytest.mark.parametrize("kind", sorted(TREES))
def test_fifty_queues_give_fifty_entries_that_pass_config_check(
    kind: str, slapd: Any, tmp_path: Path
) -> None:
    suffix, tree = TREES[kind]
    server = slapd({suffix: tree()})
    setup = autoconf_factory(tmp_path, [{"type": kind, "url": server.url}])
    dry = run_glidein(["factory", "autoconf", "--config", str(setup.config), "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "+++ " in dry.stdout and "would write" in dry.stdout and dry.stdout.count(" added from ") == 50
    assert not (tmp_path / "generated.yaml").exists()  # --dry-run writes nothing
    done = run_glidein(["factory", "autoconf", "--config", str(setup.config)])
    assert done.returncode == 0, done.stderr
    assert "ok (factory, 50 entries)" in done.stdout
    check = run_glidein(["config", "check", str(setup.config)])
    assert check.returncode == 0 and "ok (factory, 50 entries)" in check.stdout, check.stderr
    entries = {e.name: e for e in load_factory_config(setup.config).all_entries()}
    assert len(entries) == 50 and all(e.infosys_refs[0].server == server.url for e in entries.values())
    if kind == "glue2":  # a GLUE 2.0 share: queue, times, memory, CPUs, VOs of its mapping policy
        e = entries["SITE1_ce1.site1.example.org_queue2"]
        assert e.submitter.grid_resource == "condor ce1.site1.example.org ce1.site1.example.org:9619"
        assert e.submitter.submit_attrs == {"+queue": '"queue2"'}
        assert e.infosys_refs[0].ref == "SITE1_share1_2"
        arc = next(x for x in entries.values() if x.submitter.grid_type == "arc")
        assert arc.submitter.grid_resource.startswith("arc https://")
    else:
        e = entries["GLUE1_SITE3_ce.site3.example.org_q4"]
        assert e.infosys_refs[0].ref == "ce.site3.example.org:9619/htcondorce-condor-q4"
        assert e.attrs["GLIDEIN_CPUS"].value == 12 and e.attrs["GLIDEIN_MaxMemMBs"].value == 24000
    values = {k: a.value for k, a in e.attrs.items()}
    assert values["GLIDEIN_Max_Walltime"] == 5 * 3600 if kind == "glue1" else 3 * 3600
    assert values["GLIDEIN_Supported_VOs"] == "cms" and e.limits.max_idle == 40  # autoconf.defaults
    again = run_glidein(["factory", "autoconf", "--config", str(setup.config)])
    assert "unchanged: " in again.stdout and " added " not in again.stdout


def test_overrides_survive_regeneration_and_vanished_queues_are_disabled(slapd: Any, tmp_path: Path) -> None:
    server = slapd({"o=glue": glue2_tree(1, 1, 3), "o=grid": glue1_tree(1, 2)})
    name = "SITE0_ce0.site0.example.org_queue1"
    overrides = {name: {"limits": {"max_idle": 7}, "attrs": {"GLIDEIN_Site": "Renamed"}, "comment": "mine"}}
    sources = [{"type": "glue2", "url": server.url}, {"type": "glue1", "url": server.url, "vos": ["CMS"]}]
    setup = autoconf_factory(tmp_path, sources, overrides)
    assert run_glidein(["factory", "autoconf", "--config", str(setup.config)]).returncode == 0
    before = load_factory_config(setup.config).entry(name)
    assert before is not None and before.limits.max_idle == 7
    assert before.attrs["GLIDEIN_Site"].value == "Renamed"
    server.modify(glue2_share_dn("SITE0", 0, 1), "GLUE2ComputingShareMaxMainMemory", "9999")
    server.delete(glue2_share_dn("SITE0", 0, 2))
    server.delete(glue1_ce_dn("ce.site0.example.org", "q0"))
    done = run_glidein(["factory", "autoconf", "--config", str(setup.config)])
    assert done.returncode == 0, done.stderr
    assert f"entry={name} updated: attrs.GLIDEIN_MaxMemMBs" in done.stdout
    assert "entry=SITE0_ce0.site0.example.org_queue2 vanished from" in done.stdout
    assert "entry=GLUE1_SITE0_ce.site0.example.org_q0 vanished from" in done.stdout
    cfg = load_factory_config(setup.config)
    after = cfg.entry(name)
    assert after is not None and after.limits.max_idle == 7 and after.comment == "mine"
    assert after.attrs["GLIDEIN_Site"].value == "Renamed" and after.attrs["GLIDEIN_MaxMemMBs"].value == 9999
    gone = cfg.entry("SITE0_ce0.site0.example.org_queue2")
    assert gone is not None and gone.enabled is False  # kept, disabled, never deleted
    assert yaml.safe_load((tmp_path / "overrides.yaml").read_text()) == overrides  # never written


def test_bad_override_names_its_file_and_line(slapd: Any, tmp_path: Path) -> None:
    server = slapd({"o=glue": glue2_tree(1, 1, 2)})
    overrides = {"SITE0_ce0.site0.example.org_queue0": {"limits": {"max_idle": -1}}, "typo": {}}
    setup = autoconf_factory(tmp_path, [{"type": "glue2", "url": server.url}], overrides)
    done = run_glidein(["factory", "autoconf", "--config", str(setup.config)])
    assert done.returncode == 2
    assert f"{tmp_path / 'overrides.yaml'}: typo: names no generated entry (line" in done.stderr
    overrides.pop("typo")
    (tmp_path / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    check = run_glidein(["config", "check", str(setup.config)])
    assert check.returncode == 2
    where = "overrides.yaml: ['SITE0_ce0.site0.example.org_queue0'].limits.max_idle: must be >= 0"
    assert where in check.stderr
    assert "(line 3)" in check.stderr


def test_unreachable_bdii_keeps_the_entries(slapd: Any, tmp_path: Path, processes: Any) -> None:
    server = slapd({"o=glue": glue2_tree(1, 1, 2)})
    setup = autoconf_factory(tmp_path, [{"type": "glue2", "url": server.url, "timeout": 3}])
    assert run_glidein(["factory", "autoconf", "--config", str(setup.config)]).returncode == 0
    processes.stop_all()  # the BDII goes away
    done = run_glidein(["factory", "autoconf", "--config", str(setup.config)])
    assert done.returncode == 1 and "not read, its entries kept" in done.stderr
    assert [e.get("enabled", True) for e in generated(tmp_path)] == [True, True]
