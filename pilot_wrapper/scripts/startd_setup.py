"""Set-up: configure the startd the pilot starts last (stdlib only, Python >= 3.6).

GLIDEIN_STARTD_MODE `embedded` (default) writes startd.json for `glidein.pool.startd` (contract
section 6) and records GLIDEIN_STARTD_CONFIG; `condor` writes a complete condor_config for
`condor_master` (condor_config.py: release, collector, security, slot, START, retire/die/idle/tail)
and records CONDOR_CONFIG, GLIDEIN_CONDOR_MASTER and GLIDEIN_STARTD_LAUNCHER (condor_launch.py).
A missing or malformed value is a Config failure naming the key.
"""

import json
import os
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:
    from glidein.pilot_wrapper.scripts import condor_config as cc
    from glidein.pilot_wrapper.scripts import glidein_checks as checks
else:
    try:  # staged in the pilot's lib dir (kind `source`)
        import condor_config as cc
        import glidein_checks as checks
    except ImportError:  # imported from the package (tests, tools)
        from glidein.pilot_wrapper.scripts import condor_config as cc
        from glidein.pilot_wrapper.scripts import glidein_checks as checks

ATTR_KEYS = ("GLIDEIN_Site", "GLIDEIN_Entry_Name", "GLIDEIN_Factory", "GLIDEIN_Name", "GLIDEIN_Client")
LIFETIMES = (
    ("retire_time", "GLIDEIN_Retire_Time", 21600),
    ("die_time", "GLIDEIN_Die_Time", 86400),
    ("max_idle_time", "GLIDEIN_Max_Idle", 1200),
    ("max_tail_time", "GLIDEIN_Max_Tail", 1200),
)


def _int(config: Dict[str, str], key: str, default: float) -> int:
    return int(checks.number(config, key, default))


def slot_attrs(config: Dict[str, str]) -> Dict[str, str]:
    """GLIDEIN_* slot attributes as ClassAd expression text (strings quoted)."""
    attrs = {key: json.dumps(config[key]) for key in ATTR_KEYS if config.get(key)}
    attrs["GLIDEIN_Pilot_ID"] = json.dumps(config.get("GLIDEIN_Pilot_ID", ""))
    for key in config.get("GLIDEIN_Startd_Attrs", "").split(","):
        if key.strip() in config:
            attrs[key.strip()] = config[key.strip()]
    return attrs


def startd_json(config: Dict[str, str], work: str, host: str) -> Dict[str, Any]:
    """startd.json for the embedded startd; lifetimes are seconds from its start."""
    for key in ("GLIDEIN_Collector", "GLIDEIN_Schedd"):
        if not config.get(key):
            raise ValueError("glidein_config has no %s (give -param_%s)" % (key, key))
    pilot = config.get("GLIDEIN_Pilot_ID") or str(os.getpid())
    conf: Dict[str, Any] = {
        "name": "glidein_%s@%s" % (pilot, host),
        "collector": config["GLIDEIN_Collector"],
        "schedd_url": config["GLIDEIN_Schedd"],
        "token_file": config.get("GLIDEIN_Token_File", ""),
        "work_dir": os.path.join(work, "execute"),
        "cpus": _int(config, "GLIDEIN_CPUS", os.cpu_count() or 1),
        "memory_mb": _int(config, "GLIDEIN_MaxMemMBs", 2048),
        "disk_mb": _int(config, "GLIDEIN_Disk_MB", 10240),
        "gpus": _int(config, "GLIDEIN_GPUS", 0),
        "start_expr": config.get("GLIDEIN_Start") or "true",
        "attrs": slot_attrs(config),
        "advertise_interval": _int(config, "GLIDEIN_Advertise_Interval", 60),
        "poll_interval": _int(config, "GLIDEIN_Poll_Interval", 5),
    }
    for name, key, default in LIFETIMES:
        conf[name] = _int(config, key, default)
    return conf


def condor_settings(
    config: Dict[str, str], work: str, now: float, release: str, ids: "cc.Ids"
) -> "cc.Settings":
    """Every condor_config setting of the pilot's master + startd; times absolute from `now`.

    `ids`: (uid, gid) of the condor account when the pilot runs as root (CONDOR_IDS), else None.
    """
    collector = config.get("GLIDEIN_Collector")
    if not collector:
        raise ValueError("glidein_config has no GLIDEIN_Collector (give -param_GLIDEIN_Collector)")
    times = {name: _int(config, key, default) for name, key, default in LIFETIMES}
    attrs = dict(slot_attrs(config), GLIDEIN_ToRetire=str(int(now) + times["retire_time"]))
    attrs["GLIDEIN_ToDie"] = str(int(now) + times["die_time"])
    if config.get("GLIDEIN_Client"):
        attrs["GLIDECLIENT_Name"] = json.dumps(config["GLIDEIN_Client"])
    cpus = _int(config, "GLIDEIN_CPUS", os.cpu_count() or 1)
    own = cc.account_name(ids[0] if ids else os.geteuid())
    settings = cc.path_settings(release, os.path.join(work, "condor_local"))
    if ids is not None:
        settings.append(("CONDOR_IDS", "%d.%d" % ids))
    settings += cc.network_settings(config, collector)
    settings += cc.security_settings(config, os.path.join(work, "tokens.d"), own)
    settings += cc.slot_settings(config, cpus, _int(config, "GLIDEIN_MaxMemMBs", 2048), attrs)
    settings += cc.lifetime_settings(config.get("GLIDEIN_Start") or "true", times)
    return settings + cc.extra_settings(config)


def condor_config_text(config: Dict[str, str], work: str, now: float, release: str, ids: "cc.Ids") -> str:
    return cc.config_text(condor_settings(config, work, now, release, ids))


def setup_condor(config: Dict[str, str], path: str, work: str) -> "checks.CheckResult":
    """condor mode: release, dirs (owned by the condor account as root), condor_config."""
    release = cc.find_release(config)
    ids = cc.condor_ids(config, os.geteuid())
    tokens = cc.prepare_dirs(work, config.get("GLIDEIN_Token_File", ""), ids)
    target = os.path.join(work, "condor_config")
    with open(target, "w") as handle:
        handle.write(condor_config_text(config, work, time.time(), release, ids))
    if ids is not None:
        blocked = cc.blocked_dirs(os.path.join(release, "sbin"), ids[0], ids[1])
        if blocked:
            raise ValueError("the condor account %d cannot traverse %s" % (ids[0], ", ".join(blocked)))
    values = {
        "CONDOR_CONFIG": target,
        "GLIDEIN_CONDOR_MASTER": os.path.join(release, "sbin", "condor_master"),
    }
    if ids is not None:
        values["GLIDEIN_CONDOR_IDS"] = "%d.%d" % ids
    values["GLIDEIN_STARTD_LAUNCHER"] = os.path.join(
        os.path.dirname(os.path.abspath(cc.__file__)), "condor_launch.py"
    )
    checks.add_config(path, values)
    detail = "condor_config written to %s (release %s, tokens %s)" % (target, release, tokens)
    return None, detail, {"mode": "condor", "release": release}


def check(config: Dict[str, str], path: str) -> "checks.CheckResult":
    work = config.get("GLIDEIN_WORK_DIR") or os.path.dirname(os.path.abspath(path))
    mode = config.get("GLIDEIN_STARTD_MODE", "embedded")
    if mode == "condor":
        return setup_condor(config, path, work)
    if mode != "embedded":
        raise ValueError("glidein_config GLIDEIN_STARTD_MODE=%r: expected embedded or condor" % mode)
    target = os.path.join(work, "startd.json")
    conf = startd_json(config, work, socket.gethostname())
    os.makedirs(conf["work_dir"], exist_ok=True)
    with open(target, "w") as handle:
        json.dump(conf, handle, indent=1, sort_keys=True)
    checks.add_config(path, {"GLIDEIN_STARTD_CONFIG": target})
    return None, "startd.json written to %s" % target, {"mode": mode}


if __name__ == "__main__":
    sys.exit(checks.run_check("startd_setup", check))
