"""A `condor` relay: condor_master + condor_schedd started on the head node through the entry's
HTCondor route (Condor-C to the CE's schedd, run in its local universe: `remote_JobUniverse =
12`); pilots then go to it by Condor-C (`grid_resource = condor <relay> <collector>`) and on to
the site's batch system through its blahp (`remote_JobUniverse = 9`, `remote_GridResource`).

The relay job goes to the factory's schedd of the entry (`submitter.schedd`, located through
`submitter.collector`) and is marked `GlideinRelayEntry`/`GlideinRelayFactory` (no
`GlideinPilotId`: pilot status never sees it). Its files (relay.sh, the relay's condor_config,
blah.config) are written to `<log_dir>/relay/`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glidein.common.errors import SubmitError
from glidein.factory.relay.ads import ad_of, relay_constraint
from glidein.factory.relay.decide import RelayAd
from glidein.factory.relay.kinds import Route
from glidein.factory.submitters.htcondor import ScheddLike, _default_schedd, check_token_file
from glidein.factory.submitters.htcondor_desc import classad_string
from glidein.pool.condor import relay as files

LOCAL_UNIVERSE = "12"
GRID_UNIVERSE = "9"
AD_PROJECTION = ["Name", "MyAddress", "LastHeardFrom", "DaemonStartTime", "GlideinRelayEntry"]


class CondorRelay:
    def __init__(self, entry: Any, factory: str, state_dir: Path) -> None:
        self.entry, self.factory = entry, factory
        self.params, self.relay = entry.submitter, entry.relay
        own = getattr(self.params, "log_dir", None)
        self.log_dir = Path(own) if own else Path(state_dir) / "condor" / entry.name
        self.collector = str(self.relay.collector or self.params.collector)

    def _schedd(self) -> ScheddLike:
        try:
            return _default_schedd(self.params)
        except Exception as exc:  # htcondor2 raises HTCondorException and RuntimeErrors
            raise SubmitError(f"entry {self.entry.name}: cannot reach the schedd: {exc}") from None

    def _mine(self) -> str:
        return (
            f"GlideinRelayEntry =?= {classad_string(self.entry.name)}"
            f" && GlideinRelayFactory =?= {classad_string(self.factory)}"
        )

    def jobs(self) -> Mapping[str, int] | None:
        try:
            ads = self._schedd().query(self._mine(), ["ClusterId", "ProcId", "JobStatus"])
        except Exception:  # SubmitError or the bindings' own: unknown this cycle
            return None
        return {f"{ad['ClusterId']}.{ad['ProcId']}": int(ad["JobStatus"]) for ad in ads}

    def find(self) -> RelayAd | None:
        import htcondor2

        constraint = relay_constraint(self.entry.name, self.factory)
        try:
            ads = htcondor2.Collector(self.collector).query(
                htcondor2.AdType.Schedd, constraint, AD_PROJECTION
            )
        except Exception:
            return None
        found = [ad_of(dict(ad)) for ad in ads]
        return max((ad for ad in found if ad is not None), key=lambda a: a.last_heard, default=None)

    def answers(self, ad: RelayAd) -> bool:
        """A query of the relay's schedd, located by name: it answers only if alive."""
        import htcondor2

        try:
            where = htcondor2.Collector(self.collector).locate(htcondor2.DaemonType.Schedd, ad.name)
            htcondor2.Schedd(where).query("false", ["ClusterId"], limit=1)
        except Exception:
            return False
        return True

    def _owner(self) -> tuple[int, int] | None:
        info = self.log_dir.stat()
        return (info.st_uid, info.st_gid) if os.geteuid() == 0 and info.st_uid != 0 else None

    def _files(self) -> dict[str, Path]:
        cfg = files.RelayConfig(
            entry=self.entry.name,
            factory=self.factory,
            collector=self.collector,
            lifetime=int(self.relay.lifetime),
            update_interval=int(self.relay.update_interval),
            slurm_conf=self.relay.slurm_conf,
            extra=dict(self.relay.condor_config),
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        written = files.write_files(self.log_dir / "relay", cfg)
        owner = self._owner()
        if owner is not None:  # the schedd writes the job's output there as the pool account
            for path in [self.log_dir / "relay", *written.values()]:
                os.chown(path, *owner)
        return written

    def description(self, written: Mapping[str, Path]) -> dict[str, str]:
        where = written[files.SCRIPT_FILE].parent
        desc = {
            "universe": "grid",
            "grid_resource": str(self.params.grid_resource),
            "executable": str(written[files.SCRIPT_FILE]),
            "arguments": f"{self.relay.release_dir} {self.relay.relay_dir(self.entry.name)}",
            "transfer_input_files": f"{written[files.CONFIG_FILE]},{written[files.BLAH_FILE]}",
            "initialdir": str(where),
            "output": str(where / "relay.$(ClusterId).out"),
            "error": str(where / "relay.$(ClusterId).err"),
            "log": str(where / "relay.log"),
            "should_transfer_files": "YES",
            "when_to_transfer_output": "ON_EXIT_OR_EVICT",
            "notification": "Never",
            "+remote_JobUniverse": LOCAL_UNIVERSE,
            "+GlideinRelayEntry": classad_string(self.entry.name),
            "+GlideinRelayFactory": classad_string(self.factory),
            "+GlideinRelayKind": classad_string("condor"),
        }
        desc |= dict(self.relay.submit_attrs)  # the operator's own, after ours
        token = getattr(self.params, "token_file", None)
        if token:
            desc |= {
                "use_scitokens": "true",
                "scitokens_file": check_token_file(Path(token), self.entry.name),
            }
        return desc

    def deploy(self) -> str:
        import htcondor2

        desc = self.description(self._files())
        try:
            result = self._schedd().submit(htcondor2.Submit(desc))
        except SubmitError:
            raise
        except Exception as exc:
            raise SubmitError(f"entry {self.entry.name}: relay job refused: {exc}") from None
        return f"{result.cluster()}.0"

    def remove(self, job_ids: Sequence[str]) -> None:
        import htcondor2

        if not job_ids:
            return
        try:
            self._schedd().act(htcondor2.JobAction.Remove, list(job_ids))
        except SubmitError:
            raise
        except Exception as exc:
            raise SubmitError(f"entry {self.entry.name}: removing relay jobs failed: {exc}") from None

    def route(self, name: str) -> Route:
        submit = {
            "grid_resource": f"condor {name} {self.collector}",
            "+remote_JobUniverse": GRID_UNIVERSE,
            "+remote_GridResource": classad_string(self.relay.forward),
            "+GlideinRelay": classad_string(name),
        }
        return Route(name, submit)
