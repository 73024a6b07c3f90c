"""condor_config of the pilot's condor_master + condor_startd (stdlib only, Python >= 3.6).

Staged as a `source` file; `startd_setup.py` calls `write_all` in `condor` mode. The release is
GLIDEIN_CONDOR_RELEASE (a site install), else the staged tarball (untar dir `condor`), else the
release of `condor_master` on PATH. The config is complete (LOCAL_CONFIG_* empty, nothing else is
read). Security: every command authenticated (FS locally, IDTOKENS to the pool), encrypted and
integrity-checked; only the pool's daemons (GLIDEIN_Condor_Daemon_Identities) and the pilot's own
account may claim or administer the slot. Run as root, the daemons drop to GLIDEIN_CONDOR_IDS
(default 65534.65534, nobody): the local dirs and the token belong to that account.

glidein_config knobs (all optional): GLIDEIN_CONDOR_RELEASE, GLIDEIN_CONDOR_IDS,
GLIDEIN_Condor_Network_Interface, GLIDEIN_Condor_No_DNS, GLIDEIN_Condor_UID_Domain,
GLIDEIN_Condor_Filesystem_Domain, GLIDEIN_Condor_Trust_Domain, GLIDEIN_Condor_Daemon_Identities,
GLIDEIN_Condor_Update_Interval, GLIDEIN_Condor_Extra (`;`-separated `NAME = value` lines),
GLIDEIN_SLOTS_LAYOUT (`partitionable` or `fixed`), GLIDEIN_Config_Values (names of parameters that
are HTCondor config values, written as they are).
"""

import os
import pwd
import shutil
from typing import Callable, Dict, List, Optional, Tuple

DEFAULT_IDS = "65534.65534"
DEFAULT_DAEMONS = "condor@* condor_pool@*"
LOCAL_SUBDIRS = ("execute", "log", "spool", "lock", "run", "tmp")
Ids = Optional[Tuple[int, int]]
Settings = List[Tuple[str, str]]


def find_release(config: Dict[str, str]) -> str:
    """The release dir: GLIDEIN_CONDOR_RELEASE, else the untarred stage, else condor_master on PATH."""
    candidates = []
    if config.get("GLIDEIN_CONDOR_RELEASE"):
        candidates.append(("GLIDEIN_CONDOR_RELEASE", config["GLIDEIN_CONDOR_RELEASE"]))
    elif config.get("GLIDEIN_UNTAR_DIR_condor"):
        candidates.append(("the staged HTCondor tarball", config["GLIDEIN_UNTAR_DIR_condor"]))
    else:
        master = shutil.which("condor_master")
        if master:
            real = os.path.realpath(master)
            candidates.append(("condor_master on PATH", os.path.dirname(os.path.dirname(real))))
    if not candidates:
        raise ValueError(
            "no HTCondor: set GLIDEIN_CONDOR_RELEASE, stage a condor tarball or put condor_master on PATH"
        )
    where, root = candidates[0]
    missing = [p for p in ("sbin/condor_master", "sbin/condor_startd") if not os.access(
        os.path.join(root, p), os.X_OK)]  # fmt: skip
    if missing:
        raise ValueError("%s %s is not an HTCondor release (no %s)" % (where, root, ", ".join(missing)))
    return os.path.abspath(root)


def condor_ids(config: Dict[str, str], euid: int) -> Ids:
    """(uid, gid) the daemons run as when started by root; None when not root."""
    if euid != 0:
        return None
    text = config.get("GLIDEIN_CONDOR_IDS") or DEFAULT_IDS
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError("glidein_config GLIDEIN_CONDOR_IDS=%r: expected <uid>.<gid>" % text)
    if parts[0] == "0":
        raise ValueError("glidein_config GLIDEIN_CONDOR_IDS=%r: the daemons must not run as root" % text)
    return int(parts[0]), int(parts[1])


def account_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def collector_host(collector: str) -> str:
    """`host:port` (or `[v6]:port`, or a sinful `<ip:port?...>`) -> host."""
    text = collector.strip().lstrip("<").split("?", 1)[0].rstrip(">")
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def path_settings(release: str, local: str) -> Settings:
    out = [("RELEASE_DIR", release)]
    out += [(name, "$(RELEASE_DIR)/" + name.lower()) for name in ("BIN", "SBIN", "LIB", "LIBEXEC")]
    out += [("LOCAL_DIR", local)]
    out += [(sub.upper(), "$(LOCAL_DIR)/" + sub) for sub in LOCAL_SUBDIRS[:5]]
    out += [("TMP_DIR", "$(LOCAL_DIR)/tmp"), ("LOCAL_CONFIG_FILE", ""), ("LOCAL_CONFIG_DIR", "")]
    return out


def network_settings(config: Dict[str, str], collector: str) -> Settings:
    """Collector, interface and DNS; a loopback pool gets a loopback interface and no DNS."""
    host = collector_host(collector)
    loop = is_loopback(host)
    out = [("CONDOR_HOST", host), ("COLLECTOR_HOST", collector)]
    interface = config.get("GLIDEIN_Condor_Network_Interface", host if loop else "")
    if interface:
        out += [("NETWORK_INTERFACE", interface), ("BIND_ALL_INTERFACES", "False")]
    out += [("USE_SHARED_PORT", "False"), ("ENABLE_IPV6", "False")]
    if _flag(config.get("GLIDEIN_Condor_No_DNS", "true" if loop else "false")):
        out += [("NO_DNS", "True"), ("DEFAULT_DOMAIN_NAME", "localdomain")]
    if loop:  # the collector on this host would be offered the pilot's family session, refuse it,
        out += [("SEC_USE_FAMILY_SESSION", "False")]  # and the slot would wait one update interval
    domain = "localdomain" if loop else host
    out += [("UID_DOMAIN", config.get("GLIDEIN_Condor_UID_Domain") or domain)]
    out += [("FILESYSTEM_DOMAIN", config.get("GLIDEIN_Condor_Filesystem_Domain") or domain)]
    out += [("TRUST_DOMAIN", config.get("GLIDEIN_Condor_Trust_Domain") or host)]
    return out


def security_settings(config: Dict[str, str], tokens: str, own: str) -> Settings:
    """Authenticated, encrypted, integrity-checked; DAEMON/WRITE only for the pool's daemons."""
    daemons = config.get("GLIDEIN_Condor_Daemon_Identities") or DEFAULT_DAEMONS
    allowed = "%s %s@*" % (" ".join(daemons.replace(",", " ").split()), own)
    out = [("SEC_DEFAULT_" + what, "REQUIRED") for what in ("AUTHENTICATION", "ENCRYPTION", "INTEGRITY")]
    out += [("SEC_READ_AUTHENTICATION", "OPTIONAL"), ("SEC_CLIENT_AUTHENTICATION", "REQUIRED")]
    out += [("SEC_DEFAULT_AUTHENTICATION_METHODS", "FS, IDTOKENS")]
    out += [("SEC_TOKEN_DIRECTORY", tokens), ("SEC_TOKEN_SYSTEM_DIRECTORY", tokens)]
    out += [("ALLOW_DAEMON", allowed), ("ALLOW_WRITE", allowed)]
    out += [("ALLOW_ADMINISTRATOR", "%s@*" % own), ("ALLOW_OWNER", "%s@*" % own), ("ALLOW_READ", "*")]
    return out


def slot_settings(config: Dict[str, str], cpus: int, memory: int, attrs: Dict[str, str]) -> Settings:
    """The slot: size, GLIDEIN_* attributes, a policy that never suspends or preempts."""
    pilot = config.get("GLIDEIN_Pilot_ID") or str(os.getpid())
    name = "glidein_%s" % "".join(c if c.isalnum() or c in "-_" else "_" for c in pilot)
    out = [("DAEMON_LIST", "MASTER, STARTD"), ("MASTER_NAME", name), ("STARTD_NAME", name)]
    out += [("NUM_CPUS", str(cpus)), ("MEMORY", str(memory))]
    out += layout_settings(config, cpus)
    out += [(key, attrs[key]) for key in sorted(attrs)]
    out += [("STARTD_ATTRS", "$(STARTD_ATTRS) " + " ".join(sorted(attrs)))]
    out += [("SUSPEND", "False"), ("PREEMPT", "False"), ("KILL", "False"), ("WANT_SUSPEND", "False")]
    out += [("WANT_VACATE", "False"), ("RunBenchmarks", "0"), ("CGROUP_MEMORY_LIMIT_POLICY", "none")]
    interval = config.get("GLIDEIN_Condor_Update_Interval") or "60"
    out += [("UPDATE_INTERVAL", interval), ("MASTER_UPDATE_INTERVAL", interval)]
    out += [("CONDOR_ADMIN", ""), ("MAIL", "/bin/true")]
    return out


def layout_settings(config: Dict[str, str], cpus: int) -> Settings:
    """GLIDEIN_SLOTS_LAYOUT (the entry's `pilot.slots_layout`, glideinWMS `slots_layout`):
    `partitionable`, one slot the jobs carve up; `fixed`, one static slot a core sharing the
    memory equally; unset, HTCondor's own default."""
    layout = config.get("GLIDEIN_SLOTS_LAYOUT", "").strip().lower()
    if layout == "partitionable":
        return [("SLOT_TYPE_1", "100%"), ("NUM_SLOTS_TYPE_1", "1"), ("SLOT_TYPE_1_PARTITIONABLE", "True")]
    if layout == "fixed":
        return [
            ("SLOT_TYPE_1", "cpus=1"),
            ("NUM_SLOTS_TYPE_1", str(cpus)),
            ("SLOT_TYPE_1_PARTITIONABLE", "False"),
        ]
    if layout:
        raise ValueError("glidein_config GLIDEIN_SLOTS_LAYOUT=%r: expected partitionable or fixed" % layout)
    return []


def lifetime_settings(start: str, times: Dict[str, int]) -> Settings:
    """START until retire; STARTD.DAEMON_SHUTDOWN ends the startd (then the master) at die time, or,
    once the slot is empty, at retire time, at max idle while no job ever started, or at max tail
    after the last job ended (the embedded startd's lifetimes; idle or tail 0 = off).

    The startd evaluates DAEMON_SHUTDOWN in each slot ad it sends, as measured on HTCondor 25:
    - a partitionable slot is empty without dynamic slots; it stays Unclaimed from the startd's
      start, so its EnteredCurrentState is the start: the idle clock while JobStarts is 0
      (DaemonStartTime is added only after the evaluation, when the ad goes out);
    - the tail clock is ExpectedMachineGracefulDrainingCompletion (as glideinWMS's pilots): in the
      future while a claim exists, then the time the last claim ended. NumDynamicSlotsTime is not:
      in the first ad after a job it still holds the job's start, which ended a pilot at once after
      any job longer than GLIDEIN_Max_Tail;
    - no STARTD_NOCLAIM_SHUTDOWN: it counts from the last claim, after jobs too, so it cut
      GLIDEIN_Max_Tail short whenever GLIDEIN_Max_Idle was the smaller one.
    """
    empty = 'ifThenElse(PartitionableSlot =?= true, NumDynamicSlots =?= 0, State == "Unclaimed")'
    ends = ["time() > GLIDEIN_ToRetire"]
    if times["max_idle_time"] > 0:
        ends.append("(JobStarts =?= 0 && time() - EnteredCurrentState > %d)" % times["max_idle_time"])
    if times["max_tail_time"] > 0:
        tail = "((JobStarts > 0) =?= true && time() - ExpectedMachineGracefulDrainingCompletion > %d)"
        ends.append(tail % times["max_tail_time"])
    return [
        ("START", "(%s) && (time() < GLIDEIN_ToRetire)" % start),
        ("STARTD.DAEMON_SHUTDOWN", "(time() > GLIDEIN_ToDie) || (%s && (%s))" % (empty, " || ".join(ends))),
        ("MASTER.DAEMON_SHUTDOWN", "STARTD_StartTime =?= 0"),
    ]


def extra_settings(config: Dict[str, str]) -> Settings:
    """The entry's HTCondor config values (GLIDEIN_Config_Values names them), then
    GLIDEIN_Condor_Extra's `NAME = value` lines."""
    out = []
    for name in [n.strip() for n in config.get("GLIDEIN_Config_Values", "").split(",") if n.strip()]:
        if not name.replace(".", "_").isidentifier() or any(c in config.get(name, "") for c in "\r\n"):
            raise ValueError("glidein_config GLIDEIN_Config_Values: %r is not a one-line config value" % name)
        if name in config:
            out.append((name, config[name]))
    for line in config.get("GLIDEIN_Condor_Extra", "").split(";"):
        name, sep, value = line.partition("=")
        if line.strip() and (not sep or not name.strip().replace(".", "_").isidentifier()):
            raise ValueError("glidein_config GLIDEIN_Condor_Extra: %r is not NAME = value" % line)
        if line.strip():
            out.append((name.strip(), value.strip()))
    return out


def config_text(settings: Settings) -> str:
    lines = ["# Generated by glidein (pilot_wrapper/scripts/condor_config.py); do not edit."]
    lines += [("%s = %s" % pair).rstrip() for pair in settings]
    return "\n".join(lines) + "\n"


def blocked_dirs(path: str, uid: int, gid: int) -> List[str]:
    """Directories from / to `path` that `uid`/`gid` cannot traverse (execute bit)."""
    blocked, current = [], os.path.abspath(path)
    while True:
        info = os.stat(current)
        bit = 0o100 if info.st_uid == uid else 0o010 if info.st_gid == gid else 0o001
        if not info.st_mode & bit:
            blocked.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            return blocked[::-1]
        current = parent


Chown = Callable[[str, int, int], None]


def prepare_dirs(work: str, token_file: str, ids: Ids, chown: Chown = os.chown) -> str:
    """condor_local/* and tokens.d (0700, token 0600); as root owned by `ids`. Returns tokens.d."""
    local, tokens = os.path.join(work, "condor_local"), os.path.join(work, "tokens.d")
    for sub in LOCAL_SUBDIRS:
        os.makedirs(os.path.join(local, sub), exist_ok=True)
    os.makedirs(tokens, mode=0o700, exist_ok=True)
    os.chmod(tokens, 0o700)
    owned = [local] + [os.path.join(local, sub) for sub in LOCAL_SUBDIRS] + [tokens]
    if token_file:
        target = os.path.join(tokens, "pool.token")
        shutil.copyfile(token_file, target)
        os.chmod(target, 0o600)
        owned.append(target)
    if ids is not None:
        for path in owned:
            chown(path, ids[0], ids[1])
        os.chmod(work, os.stat(work).st_mode | 0o111)  # noqa: S103 - traversable by the daemons
        blocked = blocked_dirs(local, ids[0], ids[1])
        if blocked:
            raise ValueError("the condor account %d cannot traverse %s" % (ids[0], ", ".join(blocked)))
    return tokens
