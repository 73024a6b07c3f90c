"""Pilots as grid-universe jobs of an HTCondor schedd (`htcondor2.Schedd`): HTCondor-CE, ARC, batch.

`submit_description` (pure) turns a pilot into the submit description; tests compare it with golden
files and parse it with `htcondor2.Submit`. Jobs carry `+Glidein*` attributes, among them
`GlideinPilotId`, so that `status` (one schedd query per cycle, plus the history for pilots that
left the queue) reports by pilot id. The schedd is injected; by default the local one, or the one
named `schedd` located through `collector`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import BackendStatus, PilotRef, PilotSpec

S = PilotState
GRID_TYPES = {"condor": "condor", "arc": "arc", "batch": "batch"}  # grid_resource keyword -> GridType
# JobStatus: 1 Idle, 2 Running, 3 Removed, 4 Completed, 5 Held, 6 Transferring output, 7 Suspended
_JOB_STATUS = {1: S.IDLE, 2: S.RUNNING, 3: S.REMOVED, 4: S.COMPLETED, 5: S.HELD, 6: S.RUNNING, 7: S.RUNNING}
PROJECTION = ["ClusterId", "ProcId", "JobStatus", "HoldReason", "ExitCode", "GlideinPilotId"]


class ScheddLike(Protocol):
    def query(self, constraint: str = ..., projection: list[str] = ...) -> list[Any]: ...
    def history(self, constraint: str, projection: list[str], match: int = ...) -> Any: ...
    def submit(self, description: Any, count: int = ...) -> Any: ...
    def act(self, action: Any, job_spec: Any) -> Any: ...


def grid_type(grid_resource: str) -> str:
    kind = grid_resource.split(None, 1)[0].lower() if grid_resource.strip() else ""
    if kind not in GRID_TYPES:
        raise SubmitError(f"grid_resource {grid_resource!r}: type must be one of {', '.join(GRID_TYPES)}")
    return GRID_TYPES[kind]


def quote_arguments(args: Sequence[str]) -> str:
    """HTCondor's new argument syntax: the whole in double quotes, each argument in single quotes."""
    parts = []
    for arg in args:
        text = arg.replace('"', '""').replace("'", "''")
        parts.append(f"'{text}'" if (not text or any(c in text for c in " \t'")) else text)
    return '"' + " ".join(parts) + '"'


def quote_environment(env: Mapping[str, str]) -> str:
    items = [f"{k}={v}".replace('"', '""').replace("'", "''") for k, v in sorted(env.items())]
    return '"' + " ".join(f"'{i}'" if " " in i else i for i in items) + '"'


def _classad_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def submit_description(spec: PilotSpec, params: object, log_dir: Path) -> dict[str, str]:
    """The submit commands of one pilot (ordered), for `htcondor2.Submit`."""
    resource = str(getattr(params, "grid_resource", ""))
    kind = grid_type(resource)
    desc: dict[str, str] = {
        "universe": "grid",
        "grid_resource": resource,
        "executable": spec.argv[1] if len(spec.argv) > 1 else spec.argv[0],
        "arguments": quote_arguments(list(spec.argv[2:])),
        "transfer_executable": "True",
        "output": str(log_dir / f"{spec.pilot_id}.out"),
        "error": str(log_dir / f"{spec.pilot_id}.err"),
        "log": str(log_dir / "condor.log"),
        "notification": "Never",
    }
    if spec.env:
        desc["environment"] = quote_environment(spec.env)
    if kind == "condor":  # HTCondor-CE job routes read these
        desc["+xcount"] = str(spec.cpus)
        if spec.memory_mb:
            desc["+maxMemory"] = str(spec.memory_mb)
    elif spec.memory_mb or spec.cpus > 1:  # ARC and batch: the grid job's own request
        desc["request_cpus"] = str(spec.cpus)
        if spec.memory_mb:
            desc["request_memory"] = str(spec.memory_mb)
    desc["+GlideinPilotId"] = _classad_string(spec.pilot_id)
    desc["+GlideinEntryName"] = _classad_string(spec.entry)
    desc["+GlideinClient"] = _classad_string(spec.client)
    for key, value in sorted(spec.labels.items()):
        desc[f"+Glidein{key}"] = _classad_string(value)
    for key, value in getattr(params, "submit_attrs", {}).items():
        desc[key] = value
    return desc


def submit_text(desc: Mapping[str, str]) -> str:
    return "".join(f"{k} = {v}\n" for k, v in desc.items()) + "queue\n"


def statuses_from_ads(ads: Sequence[Mapping[str, Any]]) -> dict[str, BackendStatus]:
    """Pure: job ads (queue or history) -> status by pilot id."""
    out: dict[str, BackendStatus] = {}
    for ad in ads:
        pilot_id = ad.get("GlideinPilotId")
        if not isinstance(pilot_id, str):
            continue
        state = _JOB_STATUS.get(int(ad.get("JobStatus", 1)), S.IDLE)
        code = ad.get("ExitCode")
        exit_code = int(code) if isinstance(code, int) else None
        if state == S.COMPLETED and exit_code not in (None, 0):
            state = S.FAILED
        reason = str(ad.get("HoldReason", "")) if state == S.HELD else ""
        backend = f"{ad.get('ClusterId')}.{ad.get('ProcId', 0)}"
        out[pilot_id] = BackendStatus(pilot_id, state, backend, exit_code, reason)
    return out


def _default_schedd(params: object) -> ScheddLike:
    import htcondor2

    name, pool = getattr(params, "schedd", None), getattr(params, "collector", None)
    if not name:
        return htcondor2.Schedd()  # type: ignore[no-any-return]
    location = htcondor2.Collector(pool).locate(htcondor2.DaemonType.Schedd, name)
    return htcondor2.Schedd(location)  # type: ignore[no-any-return]


class HTCondorSubmitter:
    def __init__(
        self,
        entry: str,
        params: object,
        work_dir: Path,
        schedd_factory: Callable[[object], ScheddLike] = _default_schedd,
    ) -> None:
        self.entry, self.params, self.schedd_factory = entry, params, schedd_factory
        self.log_dir = Path(work_dir) / "condor" / entry

    def status_key(self) -> str:
        return f"htcondor:{getattr(self.params, 'collector', '')}:{getattr(self.params, 'schedd', '')}"

    def _schedd(self) -> ScheddLike:
        try:
            return self.schedd_factory(self.params)
        except Exception as exc:  # htcondor2 raises HTCondorException and plain RuntimeErrors
            raise SubmitError(f"entry {self.entry}: cannot reach the schedd: {exc}") from None

    def submit(self, pilots: Sequence[PilotSpec]) -> dict[str, str]:
        import htcondor2

        self.log_dir.mkdir(parents=True, exist_ok=True)
        schedd, out = self._schedd(), {}
        for spec in pilots:
            try:
                result = schedd.submit(
                    htcondor2.Submit(submit_text(submit_description(spec, self.params, self.log_dir)))
                )
                out[spec.pilot_id] = f"{result.cluster()}.0"
            except SubmitError:
                raise
            except Exception as exc:
                if not out:
                    raise SubmitError(f"entry {self.entry}: schedd refused the pilot: {exc}") from None
                break
        return out

    def status(self, pilots: Sequence[PilotRef]) -> dict[str, BackendStatus]:
        schedd = self._schedd()
        try:
            found = statuses_from_ads(schedd.query("GlideinPilotId =!= undefined", PROJECTION))
            gone = [p.pilot_id for p in pilots if p.pilot_id not in found and p.backend_id]
            if gone:
                ids = ", ".join(_classad_string(p) for p in gone)
                history = schedd.history(f"member(GlideinPilotId, {{{ids}}})", PROJECTION, len(gone))
                found.update(statuses_from_ads(list(history)))
        except Exception as exc:
            raise SubmitError(f"entry {self.entry}: schedd query failed: {exc}") from None
        return found

    def _act(self, action_name: str, pilots: Sequence[PilotRef]) -> None:
        import htcondor2

        ids = [p.backend_id for p in pilots if p.backend_id]
        if not ids:
            return
        try:
            self._schedd().act(getattr(htcondor2.JobAction, action_name), ids)
        except SubmitError:
            raise
        except Exception as exc:
            raise SubmitError(f"entry {self.entry}: {action_name.lower()} failed: {exc}") from None

    def remove(self, pilots: Sequence[PilotRef]) -> None:
        self._act("Remove", pilots)

    def release(self, pilots: Sequence[PilotRef]) -> None:
        self._act("Release", pilots)
