"""Pilots as grid-universe jobs of an HTCondor schedd (`htcondor2.Schedd`): HTCondor-CE, ARC, batch.

Pilots are submitted in batches, one schedd transaction (one cluster) per batch, described in
`htcondor_desc` (pure). Jobs carry `+Glidein*` attributes, among them `GlideinPilotId`, so that
`status` (one schedd query per cycle for every entry on the schedd, plus the history for pilots
that left the queue) reports by pilot id, and a factory restarted after a crash finds the pilots
it submitted but never confirmed. The schedd is injected; by default the local one, or the one
named `schedd` located through `collector`.

Files: each pilot's stdout, stderr and the jobs' user log go to `log_dir` (default
`<state_dir>/condor/<entry>`), which is the jobs' initial directory. The schedd writes there as the
account it runs the factory's jobs as, so when we are root `log_dir` keeps the owner the operator
gave it, and each pilot's secret parameters are written there (0600, that owner) and transferred
with the job, never put on its command line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import BackendStatus, PilotRef, PilotSpec
from glidein.factory.submitters.htcondor_desc import (
    PROJECTION,
    batch_key,
    classad_string,
    description,
    item,
    statuses_from_ads,
)
from glidein.factory.submitters.param_file import SUFFIX, forget, write_param_file

FINAL = (PilotState.COMPLETED, PilotState.FAILED, PilotState.REMOVED)


class ScheddLike(Protocol):
    def query(self, constraint: str = ..., projection: list[str] = ...) -> list[Any]: ...
    def history(self, constraint: str, projection: list[str], match: int = ...) -> Any: ...
    def submit(self, description: Any, count: int = ..., itemdata: Any = ...) -> Any: ...
    def act(self, action: Any, job_spec: Any) -> Any: ...


def _default_schedd(params: object) -> ScheddLike:
    import htcondor2

    name, pool = getattr(params, "schedd", None), getattr(params, "collector", None)
    if not name:
        return htcondor2.Schedd()  # type: ignore[no-any-return]
    location = htcondor2.Collector(pool).locate(htcondor2.DaemonType.Schedd, name)
    return htcondor2.Schedd(location)  # type: ignore[no-any-return]


def check_token_file(path: Path, entry: str) -> str:
    """The CE credential file's path; SubmitError when it is missing or readable by others."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SubmitError(f"entry {entry}: token file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise SubmitError(f"entry {entry}: token file {path}: not a regular file")
    if mode & 0o077:
        raise SubmitError(f"entry {entry}: token file {path}: readable by others; chmod 600")
    return str(path)


def forget_ended(ads: Sequence[Any], statuses: dict[str, BackendStatus]) -> None:
    """Delete the parameter file (the pool token) of every pilot that ended, in its job's
    initial directory (its entry's log_dir: one status query serves several entries)."""
    ended = []
    for ad in ads:
        pilot_id, iwd = ad.get("GlideinPilotId"), ad.get("Iwd")
        status = statuses.get(str(pilot_id))
        if status is not None and status.state in FINAL and isinstance(iwd, str) and "/" not in str(pilot_id):
            ended.append(Path(iwd) / f"{pilot_id}{SUFFIX}")
    forget(ended)


class HTCondorSubmitter:
    def __init__(
        self,
        entry: str,
        params: object,
        work_dir: Path,
        schedd_factory: Callable[[object], ScheddLike] = _default_schedd,
    ) -> None:
        self.entry, self.params, self.schedd_factory = entry, params, schedd_factory
        own = getattr(params, "log_dir", None)
        self.log_dir = Path(own) if own else Path(work_dir) / "condor" / entry
        self.uncertain: set[str] = set()  # submitted maybe: left NEW for reconcile to find

    def status_key(self) -> str:
        return f"htcondor:{getattr(self.params, 'collector', '')}:{getattr(self.params, 'schedd', '')}"

    def _schedd(self) -> ScheddLike:
        try:
            return self.schedd_factory(self.params)
        except Exception as exc:  # htcondor2 raises HTCondorException and plain RuntimeErrors
            raise SubmitError(f"entry {self.entry}: cannot reach the schedd: {exc}") from None

    def _token_file(self, spec: PilotSpec) -> str | None:
        per_frontend = getattr(self.params, "frontend_token_files", None) or {}
        chosen = per_frontend.get(spec.labels.get("FrontendName", "")) or getattr(
            self.params, "token_file", None
        )
        return check_token_file(Path(chosen), self.entry) if chosen else None

    def _owner(self) -> tuple[int, int] | None:
        """Whom the parameter files go to: the owner of `log_dir` when we are root and not it."""
        info = self.log_dir.stat()
        if os.geteuid() != 0 or info.st_uid == 0:
            return None
        return info.st_uid, info.st_gid

    def _executable(self, wrapper: Path) -> str:
        """An executable (0755) copy of the pilot wrapper in `log_dir`: a batch system given the
        wrapper in place (the blahp with shared directories) needs the execute bit."""
        target = self.log_dir / wrapper.name
        data = wrapper.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            os.chmod(tmp, 0o755)  # noqa: S103 - a program the pool account runs
            tmp.replace(target)
        return str(target)

    def _prepare(
        self, specs: Sequence[PilotSpec], route: Mapping[str, str]
    ) -> tuple[dict[str, str], list[dict[str, str]]]:
        """The batch's description (`route`'s commands win: a site relay's) and item data; the
        pilots' parameter files written."""
        desc = description(specs[0], self.params, self.log_dir, self._token_file(specs[0])) | dict(route)
        desc["executable"] = self._executable(Path(desc["executable"]))
        rows, owner = [], self._owner()
        for spec in specs:
            row, secrets = item(spec)
            write_param_file(self.log_dir / f"{spec.pilot_id}{SUFFIX}", secrets, owner)
            rows.append(row)
        return desc, rows

    def submit(self, pilots: Sequence[PilotSpec], route: Mapping[str, str] | None = None) -> dict[str, str]:
        """One schedd transaction per group of alike pilots; pilot id -> `cluster.proc`. `route`:
        submit commands replacing the entry's (factory/relay/route.py: through a site relay)."""
        import htcondor2

        self.log_dir.mkdir(parents=True, exist_ok=True)
        groups: dict[tuple[Any, ...], list[PilotSpec]] = {}
        for spec in pilots:
            groups.setdefault(batch_key(spec), []).append(spec)
        schedd, out = self._schedd(), dict[str, str]()
        for specs in groups.values():
            try:
                desc, rows = self._prepare(specs, route or {})
                result = schedd.submit(htcondor2.Submit(desc), itemdata=iter(rows))
            except SubmitError:
                self._forget([spec.pilot_id for spec in specs])
                if not out:
                    raise
                break
            except Exception as exc:
                self._after_failure(specs, exc)
                if not out:
                    raise SubmitError(f"entry {self.entry}: schedd refused the pilots: {exc}") from None
                break
            out.update({spec.pilot_id: f"{result.cluster()}.{n}" for n, spec in enumerate(specs)})
        return out

    def _after_failure(self, specs: Sequence[PilotSpec], exc: Exception) -> None:
        """A lost connection may have come after the schedd committed: reconcile decides."""
        text = str(exc).lower()
        if "timeout" in text or "timed out" in text or "connection" in text:
            self.uncertain.update(spec.pilot_id for spec in specs)
        else:
            self._forget([spec.pilot_id for spec in specs])

    def _forget(self, pilot_ids: Sequence[str]) -> None:
        """Delete the parameter files (pool tokens) of pilots that ended or were never queued."""
        forget([self.log_dir / f"{pilot_id}{SUFFIX}" for pilot_id in pilot_ids])

    def status(self, pilots: Sequence[PilotRef]) -> dict[str, BackendStatus]:
        schedd, wanted = self._schedd(), {p.pilot_id for p in pilots}
        try:
            ads = list(schedd.query("GlideinPilotId =!= undefined", PROJECTION))
            found = statuses_from_ads(ads)
            gone = [p.pilot_id for p in pilots if p.pilot_id not in found and p.backend_id]
            if gone:
                ids = ", ".join(classad_string(p) for p in gone)
                ads += list(schedd.history(f"member(GlideinPilotId, {{{ids}}})", PROJECTION, len(gone)))
                found = statuses_from_ads(ads)
        except Exception as exc:
            raise SubmitError(f"entry {self.entry}: schedd query failed: {exc}") from None
        forget_ended(ads, {p: st for p, st in found.items() if p in wanted})
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

    def stdout_path(self, pilot_id: str) -> Path:
        """The pilot's transferred stdout: a self-contained pilot's output block."""
        return self.log_dir / f"{pilot_id}.out"

    def release(self, pilots: Sequence[PilotRef]) -> None:
        self._act("Release", pilots)
