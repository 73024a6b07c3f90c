"""A site relay on real HTCondor: a `condor_master` + `condor_schedd` started on a site's head node.

The factory sends the relay as one job through the entry's normal route (Condor-C to the CE's
schedd, run in the CE's local universe, i.e. on the head node). The job is `relay.sh` with two
files beside it: the relay's condor_config and the blahp's config. Both are static text; what
only the head node knows comes from the environment the script sets (`$ENV(...)` in the config):
the relay's directory (`GLIDEIN_RELAY_DIR`, kept across redeployments so that a new relay resumes
the queue of the one before it), the HTCondor release (`GLIDEIN_RELAY_RELEASE`) and the account
it runs as (`GLIDEIN_RELAY_USER`, the pool's PERSONAL_USER of `use SECURITY : recommended`).

The schedd is named `relay-<entry>`, advertises to the factory's collector with `is_glidein =
true`, `GlideinRelayEntry` and `GlideinRelayFactory` (SCHEDD_ATTRS), forwards grid jobs to the
site's batch system through the blahp, and the master shuts the relay down once its lifetime is
over (`DAEMON_SHUTDOWN`). The script holds a lock on the relay's directory while the relay runs:
a second relay for the same directory waits for the first to end (never two at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from glidein.pool.condor.config import PoolSpec, config_text
from glidein.pool.condor.sites import BLAH_SETTINGS, grid_settings

CONFIG_FILE = "relay_config"
BLAH_FILE = "blah.config"
SCRIPT_FILE = "relay.sh"
DIR_ENV, RELEASE_ENV, USER_ENV = "GLIDEIN_RELAY_DIR", "GLIDEIN_RELAY_RELEASE", "GLIDEIN_RELAY_USER"
LOCK_WAIT = 300  # seconds a new relay waits for the one before it to leave the directory
EXIT_BUSY = 3  # the relay's directory stayed held by another relay
AD_ATTRS = ("is_glidein", "GlideinRelayEntry", "GlideinRelayFactory", "GlideinRelayLifetime")


@dataclass(frozen=True)
class RelayConfig:
    """What the relay's condor_config says (all known to the factory)."""

    entry: str
    factory: str
    collector: str  # host:port where the relay advertises (where Condor-C locates it)
    lifetime: int  # seconds; the master shuts the relay down after it
    update_interval: int = 60  # seconds between two schedd ads
    slurm_conf: str | None = None
    trust_domain: str = "relay"
    identities: tuple[str, ...] = ()  # allowed as DAEMON besides the relay's own account
    extra: dict[str, str] = field(default_factory=dict)  # the operator's own condor_config lines


def schedd_base_name(entry: str) -> str:
    """The relay's SCHEDD_NAME (its full name gets `@<host>`)."""
    return f"relay-{entry}"


def _classad_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def relay_settings(cfg: RelayConfig) -> dict[str, str]:
    """The relay's own lines on top of a personal pool's (pool/condor/config.py)."""
    root = Path(f"$ENV({DIR_ENV})")
    settings = {
        "SCHEDD_NAME": schedd_base_name(cfg.entry),
        "COLLECTOR_HOST": cfg.collector,
        "CONDOR_HOST": cfg.collector.rsplit(":", 1)[0],
        "SCHEDD_INTERVAL": str(cfg.update_interval),
        "is_glidein": "true",
        "GlideinRelayEntry": _classad_string(cfg.entry),
        "GlideinRelayFactory": _classad_string(cfg.factory),
        "GlideinRelayLifetime": str(cfg.lifetime),
        "SCHEDD_ATTRS": f"$(SCHEDD_ATTRS) {' '.join(AD_ATTRS)}",
        "MASTER.DAEMON_SHUTDOWN": f"(time() - DaemonStartTime) > {cfg.lifetime}",
        "START_LOCAL_UNIVERSE": "False",
        "START_SCHEDULER_UNIVERSE": "False",
        **grid_settings(root, cfg.slurm_conf),
    }
    if not cfg.slurm_conf:  # the blahp still needs its own config
        settings["SCHEDD_ENVIRONMENT"] = f'"BLAHPD_CONFIG_LOCATION={root / BLAH_FILE}"'
    return settings | cfg.extra


def config_file(cfg: RelayConfig) -> str:
    """The relay's whole condor_config."""
    spec = PoolSpec(
        Path(f"$ENV({DIR_ENV})"),
        roles=("schedd",),
        name=schedd_base_name(cfg.entry),
        trust_domain=cfg.trust_domain,
        daemon_identities=cfg.identities,
        extra=relay_settings(cfg),
    )
    return config_text(spec, Path(f"$ENV({RELEASE_ENV})"), 0, f"$ENV({USER_ENV})")


def blah_file() -> str:
    return "".join(f"{key}={value}\n" for key, value in BLAH_SETTINGS.items())


_SCRIPT = """#!/bin/sh
# glidein site relay (pool/condor/relay.py): condor_master + condor_schedd on the head node.
# usage: relay.sh RELEASE_DIR RELAY_DIR   (@CONFIG@ and @BLAH@ beside it)
PATH=/usr/local/bin:/usr/bin:/bin${PATH:+:$PATH}
release="$1"
dir="$2"
for sub in log spool execute lock run tmp passwords.d tokens.d; do
    mkdir -p "$dir/local/$sub" || { echo "relay: cannot create $dir/local/$sub" >&2; exit 2; }
done
cp @CONFIG@ "$dir/condor_config" && cp @BLAH@ "$dir/@BLAH@" ||
    { echo "relay: cannot write $dir" >&2; exit 2; }
exec 9>>"$dir/relay.lock"
if ! flock -w @WAIT@ 9; then
    echo "relay: $dir is held by another relay" >&2
    exit @BUSY@
fi
echo $$ > "$dir/master.pid"
export @DIR@="$dir" @RELEASE@="$release" @USER@="$(id -un)" CONDOR_CONFIG="$dir/condor_config"
exec "$release/sbin/condor_master" -f
"""


def script() -> str:
    """relay.sh: prepare the relay's directory, take its lock, exec condor_master (its pid is the job's)."""
    values = {
        "CONFIG": CONFIG_FILE,
        "BLAH": BLAH_FILE,
        "WAIT": str(LOCK_WAIT),
        "BUSY": str(EXIT_BUSY),
        "DIR": DIR_ENV,
        "RELEASE": RELEASE_ENV,
        "USER": USER_ENV,
    }
    text = _SCRIPT
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def write_files(directory: Path, cfg: RelayConfig) -> dict[str, Path]:
    """relay.sh (0755), the relay's condor_config and blah.config in `directory`; name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, text, mode in (
        (SCRIPT_FILE, script(), 0o755),
        (CONFIG_FILE, config_file(cfg), 0o644),
        (BLAH_FILE, blah_file(), 0o644),
    ):
        path = directory / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        tmp.replace(path)
        out[name] = path
    return out
