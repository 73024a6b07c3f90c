"""`glidein factory autoconf` from HTCondor-CE ads (OSG_ResourceCatalog) on a real condor_collector:
50 queues give 50 entries that pass config check, a draining queue is in downtime, a CE that stops
advertising has its entries disabled, and the operator's overrides survive every regeneration."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from glidein.common.config import load_factory_config
from glidein.factory.downtimes import entry_down, from_config
from glidein.pool.condor.personal import CondorPool
from tests.integration.autoconf.support import autoconf_factory
from tests.integration.condor.conftest import FACTORY_WMS
from tests.procs import run_glidein, wait_for

AUTHZ = ("READ", "WRITE", "DAEMON", "ADVERTISE_SCHEDD")
CES, QUEUES = 10, 5


def ce_ad(ce: int, draining: int = -1) -> str:
    """An HTCondor-CE's schedd ad as its CE collector holds it: QUEUES catalog items."""
    host = f"ce{ce}.osg{ce}.example.edu"
    items = []
    for q in range(QUEUES):
        state = '; ServingState = "draining"' if q == draining else ""
        items.append(
            f'[ Name = "slots{q}"; CPUs = {q + 1}; Memory = {2048 * (q + 1)}; MaxWallTime = 1440;'
            f' AllowedVOs = {{ "osg", "cms" }}; Queue = "queue{q}"{state} ]'
        )
    return (
        f'MyType = "Scheduler"\nName = "{host}"\nMachine = "{host}"\nMyAddress = "<127.0.0.1:{9619 + ce}>"\n'
        f'OSG_Resource = "OSG{ce}_CE"\nOSG_ResourceGroup = "OSG{ce}"\nOSG_BatchSystems = "SLURM"\n'
        f"OSG_ResourceCatalog = {{ {', '.join(items)} }}\n"
    )


def advertise(wms: CondorPool, tmp: Path, command: str, text: str) -> None:
    tokens = tmp / "ce_tokens"
    if not tokens.exists():
        wms.write_token(tokens, FACTORY_WMS, AUTHZ)
    path = tmp / "ads.txt"
    path.write_text(text)
    env = dict(os.environ, **wms.env(), _CONDOR_SEC_TOKEN_DIRECTORY=str(tokens))
    argv = [str(wms.release.program("condor_advertise")), "-multiple", command, str(path)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def schedd_names(wms: CondorPool) -> list[str]:
    return wms.tool("condor_status", "-schedd", "-af", "Name").split()


def autoconf(config: Path) -> subprocess.CompletedProcess[str]:
    done = run_glidein(["factory", "autoconf", "--config", str(config)], timeout=90)
    assert done.returncode == 0, done.stderr
    return done


def test_ce_ads_give_entries_that_follow_the_ces(wms_pool: CondorPool, tmp_path: Path) -> None:
    advertise(wms_pool, tmp_path, "UPDATE_SCHEDD_AD", "\n".join(ce_ad(ce) for ce in range(CES)))
    wait_for(lambda: len(schedd_names(wms_pool)) >= CES, timeout=30)
    tokens = tmp_path / "factory_tokens"
    wms_pool.write_token(tokens, FACTORY_WMS, ("READ",))
    name = "OSG3_ce3.osg3.example.edu_queue2"
    overrides = {name: {"limits": {"max_idle": 9}, "attrs": {"GLIDEIN_Site": "Mine"}}}
    source = {"type": "ce_collector", "url": wms_pool.collector, "vos": ["CMS"]}
    setup = autoconf_factory(tmp_path, [source], overrides)
    text = setup.config.read_text().replace("autoconf:", f"condor_tokens: {tokens}\nautoconf:", 1)
    setup.config.write_text(text)
    assert "ok (factory, 50 entries)" in autoconf(setup.config).stdout
    check = run_glidein(["config", "check", str(setup.config)])
    assert check.returncode == 0 and "ok (factory, 50 entries)" in check.stdout, check.stderr
    entry = load_factory_config(setup.config).entry(name)
    assert entry is not None and entry.limits.max_idle == 9 and entry.attrs["GLIDEIN_Site"].value == "Mine"
    assert entry.submitter.grid_resource == "condor ce3.osg3.example.edu ce3.osg3.example.edu:9619"
    values = {k: a.value for k, a in entry.attrs.items()}
    assert values["GLIDEIN_CPUS"] == 3 and values["GLIDEIN_MaxMemMBs"] == 6144
    assert values["GLIDEIN_Max_Walltime"] == 86400 and values["GLIDEIN_Supported_VOs"] == "osg,cms"
    assert (
        entry.infosys_refs[0].type == "OSG_CE_collector"
        and entry.infosys_refs[0].ref == "ce3.osg3.example.edu#slots2"
    )

    advertise(wms_pool, tmp_path, "UPDATE_SCHEDD_AD", ce_ad(3, draining=2))
    invalidate = 'MyType = "Query"\nTargetType = "Scheduler"\nRequirements = Name == "ce7.osg7.example.edu"\n'
    advertise(wms_pool, tmp_path, "INVALIDATE_SCHEDD_ADS", invalidate)
    wait_for(lambda: "ce7.osg7.example.edu" not in schedd_names(wms_pool), timeout=30)
    time.sleep(0.5)
    done = autoconf(setup.config)
    assert f"entry={name} queue production -> draining: in downtime" in done.stdout
    assert done.stdout.count("vanished from") == QUEUES  # ce7's queues
    cfg = load_factory_config(setup.config)
    entry = cfg.entry(name)
    assert entry is not None and entry.limits.max_idle == 9  # the override survived
    assert entry_down(from_config(entry.name, entry.downtimes), entry.name, time.time()) is not None
    assert [e.enabled for e in cfg.all_entries() if "ce7.osg7" in e.name] == [False] * QUEUES
    assert len(cfg.all_entries()) == 50  # disabled, never deleted
