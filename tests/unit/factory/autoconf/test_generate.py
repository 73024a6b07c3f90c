"""Pure parts of autoconf: queue -> entry, regeneration against the previous entries, merging."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from glidein.common.config.autoconf import Autoconf, InfoSource
from glidein.common.config.includes import merge
from glidein.factory.autoconf.ce_ads import parse as parse_ce_ads
from glidein.factory.autoconf.generate import generate, infosys_state
from glidein.factory.autoconf.ldap import InfoSysError
from glidein.factory.autoconf.queues import CEQueue
from glidein.factory.autoconf.refresh import Refresher


def queue(q: str = "long", state: str = "production", memory: int = 4000) -> CEQueue:
    return CEQueue(
        site="SiteA",
        host="ce1.site-a.org",
        grid_type="condor",
        grid_resource="condor ce1.site-a.org ce1.site-a.org:9619",
        queue=q,
        state=state,
        memory_mb=memory,
        vos=("cms",),
        ref_type="BDII",
        ref_server="ldap://bdii:2170",
        ref_key=f"share-{q}",
    )


def test_a_draining_queue_puts_its_entry_in_downtime_and_back() -> None:
    first = generate([queue()], [], set())
    assert first.changes == ["entry=SiteA_ce1.site-a.org_long added from ldap://bdii:2170 (queue production)"]
    drained = generate([queue(state="Draining")], first.entries, set())
    assert infosys_state(drained.entries[0]) == "draining"
    assert drained.changes == ["entry=SiteA_ce1.site-a.org_long queue production -> draining: in downtime"]
    reopened = generate([queue()], drained.entries, set())
    assert reopened.entries == first.entries
    assert reopened.changes == [
        "entry=SiteA_ce1.site-a.org_long queue draining -> production: downtime ended"
    ]


def test_a_vanished_queue_is_disabled_once_and_kept_when_its_source_is_unread() -> None:
    first = generate([queue("long"), queue("short")], [], set())
    unread = generate([queue("long")], first.entries, {"ldap://bdii:2170"})
    assert unread.entries == first.entries and unread.changes == []
    gone = generate([queue("long")], first.entries, set())
    assert [e.get("enabled", True) for e in gone.entries] == [True, False]
    assert gone.changes == ["entry=SiteA_ce1.site-a.org_short vanished from ldap://bdii:2170: disabled"]
    assert generate([queue("long")], gone.entries, set()).changes == []  # said once
    back = generate([queue("long"), queue("short")], gone.entries, set())
    assert back.changes == ["entry=SiteA_ce1.site-a.org_short published again by ldap://bdii:2170: enabled"]


def test_changed_values_are_one_line_naming_the_fields() -> None:
    first = generate([queue()], [], set())
    changed = generate([queue(memory=8000)], first.entries, set())
    assert changed.changes == ["entry=SiteA_ce1.site-a.org_long updated: attrs.GLIDEIN_MaxMemMBs"]


def test_overrides_merge_into_mappings_and_replace_another_backend() -> None:
    generated = {"submitter": {"type": "htcondor", "grid_resource": "condor a a:9619"}, "limits": {"a": 1}}
    merged = merge(generated, {"limits": {"b": 2}, "submitter": {"type": "htcondor", "schedd": "s"}})
    assert merged["limits"] == {"a": 1, "b": 2} and merged["submitter"]["grid_resource"] == "condor a a:9619"
    local = merge(generated, {"submitter": {"type": "local", "slots": 2}})
    assert local["submitter"] == {"type": "local", "slots": 2}


def test_ce_ad_catalog_items_are_queues() -> None:
    ad = {
        "Name": "ce9.example.edu",
        "OSG_ResourceGroup": "OSG9",
        "OSG_ResourceCatalog": [
            {"Name": "gpu", "CPUs": 4, "Memory": 8000, "MaxWallTime": 60, "AllowedVOs": ["icecube"]},
            {"Name": "cpu", "CPUs": 1, "Memory": 2000, "Queue": "short", "ServingState": "closed"},
        ],
    }
    gpu, cpu = parse_ce_ads([ad], "collector:9619")
    assert (gpu.name, gpu.max_wall_time, gpu.vos, gpu.open) == (
        "OSG9_ce9.example.edu_gpu",
        3600,
        ("icecube",),
        True,
    )
    assert (cpu.queue, cpu.open, cpu.allows(["CMS"])) == ("short", False, False)


def test_the_daemon_refresh_is_periodic_and_logs_a_failing_source_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(source: InfoSource) -> list[CEQueue]:
        calls.append(source.url)
        raise InfoSysError("connection refused")

    now = [0.0]
    auto = Autoconf(
        entries_file=tmp_path / "gen.yaml",
        sources=[InfoSource(type="glue2", url="ldap://x")],
        info_refresh=60,
    )
    refresher = Refresher(clock=lambda: now[0], readers={"glue2": broken})
    with caplog.at_level(logging.INFO):
        for t in (0.0, 30.0, 60.0, 130.0):
            now[0] = t
            assert refresher.tick(type("Cfg", (), {"autoconf": auto})()) is (t == 0.0)
    assert calls == ["ldap://x"] * 3  # at 0, 60 and 130: not at 30
    assert sum("not read, its entries kept" in r.message for r in caplog.records) == 1
