"""One entry's work in one cycle (runs in a worker process): reconcile, decide, act, report.

`work_entry(task)` never raises for the entry's own problems: a backend that cannot be read makes
the entry fail closed (submit nothing, remove nothing) and is reported in the result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glidein.common.errors import GlideinError
from glidein.factory.entry import ClientOutcome, EntryInputs, EntryPolicy, Limits, decide
from glidein.factory.pilot_states import PilotState
from glidein.factory.reconcile import reconcile
from glidein.factory.relay.route import relay_route
from glidein.factory.requests import ValidRequest
from glidein.factory.state import NewPilot, PilotRecord, PilotStore, StateWriteError
from glidein.factory.submitters.base import BackendStatus, PilotRef, PilotSpec, submitter_class
from glidein.factory.submitters.param_file import REPORT_TOKEN, SECRET_PARAMS

log = logging.getLogger(__name__)
S = PilotState
NEW_GRACE = 120.0  # seconds a NEW/PENDING pilot may stay unlisted by the backend
_STORES: dict[str, PilotStore] = {}


@dataclass(frozen=True)
class PilotContext:
    """What every pilot command line of this factory needs (contract 7)."""

    factory: str
    glidein: str
    python: str
    wrapper: str
    stage_args: Mapping[str, Sequence[str]]  # client -> staging arguments (-web -sign ...)
    report_url: str = ""
    report_key: bytes = b""


@dataclass(frozen=True)
class EntryTask:
    entry: Any  # common.config.entry.Entry
    shared_budgets: Mapping[str, int]  # this entry's share of factory-wide limits (factory/budgets.py)
    requests: Sequence[ValidRequest]
    statuses: Mapping[str, BackendStatus] | None  # None: the worker asks the backend itself
    status_failed: str  # non-empty: the shared status query failed this cycle
    now: float
    rate_allowance: int
    down_clients: Mapping[str, str]
    blocked_reason: str
    db_path: str
    work_dir: str
    pilots: PilotContext | None  # None: no stage yet, nothing can be submitted
    state_dir: str = ""  # where the web process keeps pilot reports (<state_dir>/pilots/<id>/)
    reports_since: float = 0.0  # read the reports of pilots that ended after this


@dataclass
class EntryResult:
    entry: str
    clients: list[ClientOutcome] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    submitted: int = 0
    removed: int = 0
    errors: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    submitted_by: dict[str, int] = field(default_factory=dict)  # client -> pilots the backend took


def policy_of(entry: Any) -> EntryPolicy:
    """EntryPolicy from an entry's config (common.config.entry.Entry); factory-wide frontend limits
    are not here: the cycle shares them out among entries (EntryTask.shared_budgets)."""
    lim = entry.limits
    per_fe: dict[str, Limits] = {}
    per_sc: dict[str, Limits] = {}
    for key, fl in lim.per_frontend.items():  # "fe" or "fe:sc", this entry's pilots only
        (per_sc if ":" in key else per_fe)[key] = Limits(fl.max_idle, fl.max_glideins, fl.max_held)
    d = lim.default_per_frontend
    return EntryPolicy(
        name=entry.name,
        limits=Limits(lim.max_idle, lim.max_glideins, lim.max_held),
        frontend_limits=per_fe,
        security_class_limits=per_sc,
        default_frontend_limits=Limits(d.max_idle, d.max_glideins, d.max_held),
        max_per_cycle=lim.max_per_cycle,
        max_removal_share=entry.removal.max_share,
        min_removals=entry.removal.min_per_cycle,
        max_removals=entry.removal.max_per_cycle,
        stale_age=float(entry.stale_age.idle),
        stale_running_age=float(entry.stale_age.running),
        client_gone_grace=float(entry.removal.client_gone),
        held_max_releases=entry.held.max_releases,
        held_backoff=float(entry.held.backoff),
        held_max_backoff=float(entry.held.max_backoff),
        held_releases_per_cycle=entry.held.max_per_cycle,
    )


def make_submitter(entry: Any, work_dir: str) -> Any:
    return submitter_class(entry.submitter.type)(entry.name, entry.submitter, Path(work_dir))


def _store(path: str) -> PilotStore:
    if path not in _STORES:
        _STORES[path] = PilotStore(path)
    return _STORES[path]


def _entry_params(entry: Any) -> dict[str, str]:
    out = {}
    for name, attr in entry.attrs.items():
        if getattr(attr, "parameter", True):
            value = attr.value
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


_LIFETIMES = {
    "retire_time": "GLIDEIN_Retire_Time",
    "die_time": "GLIDEIN_Die_Time",
    "max_idle": "GLIDEIN_Max_Idle",
    "max_tail": "GLIDEIN_Max_Tail",
}


def _lifetimes(pilot: Any) -> dict[str, str]:
    """The entry's default pilot lifetimes, slots layout and HTTP proxy (`entries[].pilot`): the
    request and const attrs win."""
    out = {}
    for field_name, param in _PILOT_PARAMS.items():
        value = getattr(pilot, field_name, None)
        if value is not None:
            out[param] = str(value)
    return out


_PILOT_PARAMS = {**_LIFETIMES, "slots_layout": "GLIDEIN_SLOTS_LAYOUT", "proxy_url": "GLIDEIN_Proxy_URL"}


def entry_cpus(entry: Any) -> int:
    """GLIDEIN_CPUS as a number of cores; `auto`, `node`, `-1` (found out on the node) count as 1."""
    attr = entry.attrs.get("GLIDEIN_CPUS")
    text = str(attr.value).strip() if attr is not None else ""
    return int(text) if text.isdigit() and int(text) > 0 else 1


def pilot_command(
    ctx: PilotContext, entry: Any, req: ValidRequest, pilot_id: str
) -> tuple[list[str], dict[str, str]]:
    """The pilot wrapper's command line (contract 7) and what must stay off it: the secret
    parameters (the request's, and SECRET_PARAMS whoever set them) and the report token, which
    the submitters write to a 0600 `-param_file`. Const entry attributes win over the request."""
    from glidein.factory.web import report_token

    argv = [ctx.python, ctx.wrapper, "-factory", ctx.factory, "-name", ctx.glidein, "-entry", entry.name]
    argv += ["-clientname", req.request.client, *ctx.stage_args.get(req.request.client, ())]
    pilot = getattr(entry, "pilot", None)
    argv += ["-v", str(getattr(pilot, "verbosity", "std")), "-pilot_id", pilot_id]
    argv += ["-hold_time", str(getattr(pilot, "hold_time", 1200))]
    work_dir = str(getattr(pilot, "work_dir", "."))
    if work_dir != ".":
        argv += ["-dir", work_dir]
    params = {**_lifetimes(pilot), **req.params, **req.secrets}
    for name, value in _entry_params(entry).items():
        const = getattr(entry.attrs[name], "const", True)
        if const or name not in params:
            params[name] = value
    # HTCondor config values (`$(STARTD_DEBUG) D_SECURITY`) go in the file too: on the command line
    # HTCondor's submit language would expand their `$(...)`
    config_values = {name for name, attr in entry.attrs.items() if getattr(attr, "type", "") == "config"}
    hidden = set(req.secrets) | set(SECRET_PARAMS) | config_values
    if config_values:  # the pilot writes these into its startd's config
        params["GLIDEIN_Config_Values"] = ",".join(sorted(config_values))
    secrets = {n: v for n, v in params.items() if n in hidden and n != REPORT_TOKEN}
    for name, value in sorted(params.items()):
        if name not in hidden:
            argv += [f"-param_{name}", value]
    if ctx.report_url and ctx.report_key:
        argv += ["-report_url", ctx.report_url]
        secrets[REPORT_TOKEN] = report_token(ctx.report_key, pilot_id)
    return argv, secrets


def pilot_argv(ctx: PilotContext, entry: Any, req: ValidRequest, pilot_id: str) -> list[str]:
    """The command line alone (no secret is on it)."""
    return pilot_command(ctx, entry, req, pilot_id)[0]


def _apply_status(
    store: PilotStore, records: list[PilotRecord], statuses: Mapping[str, BackendStatus], now: float
) -> bool:
    """Bring the bookkeeping in line with the backend; False when nothing had to change."""
    rec = reconcile(records, statuses, now, NEW_GRACE)
    if rec.backend_ids:
        store.set_backend_ids(rec.backend_ids, now)
    if rec.moves:
        store.move_many(rec.moves, now, rec.held_reasons, rec.exit_codes)
    return bool(rec.backend_ids or rec.moves)


def _specs(task: EntryTask, req: ValidRequest, ids: Sequence[str]) -> list[PilotSpec]:
    assert task.pilots is not None
    labels = {"Factory": task.pilots.factory, "Name": task.pilots.glidein}
    labels |= {"FrontendName": req.request.frontend, "SecurityClass": req.request.security_class}
    labels["CredentialIdentifier"] = req.credential_id
    cpus = entry_cpus(task.entry)
    specs = []
    for i in ids:
        argv, secrets = pilot_command(task.pilots, task.entry, req, i)
        specs.append(
            PilotSpec(i, task.entry.name, req.request.client, argv, cpus=cpus, labels=labels, secrets=secrets)
        )
    return specs


def _submit(
    task: EntryTask, store: PilotStore, submitter: Any, client_counts: dict[str, int], result: EntryResult
) -> None:
    """Submit per client, each pilot recorded (NEW) first: nothing goes out that is not recorded."""
    reqs = {r.request.client: r for r in task.requests}
    for client, count in sorted(client_counts.items()):
        req = reqs[client]
        new = NewPilot(task.entry.name, client, req.request.security_class, req.credential_id)
        try:
            ids = store.record_new(new, count, task.now)
        except StateWriteError as exc:
            result.errors.append(f"submit: {exc}; nothing submitted")
            return
        accepted: dict[str, str] = {}
        specs, batch = _specs(task, req, ids), max(1, int(task.entry.limits.batch_size))
        try:
            for start in range(0, len(specs), batch):
                accepted |= submitter.submit(specs[start : start + batch])
        except GlideinError as exc:
            result.errors.append(f"submit: {exc}")
            log.warning("entry=%s client=%s submit failed: %s", task.entry.name, client, exc)
        result.submitted += len(accepted)
        result.submitted_by[client] = len(accepted)
        unsure = set(getattr(submitter, "uncertain", ()))  # left NEW: reconcile finds them or not
        refused = [(i, S.REMOVED, "submission refused") for i in ids if i not in accepted and i not in unsure]
        try:
            if accepted:
                store.set_backend_ids(accepted, task.now)
            if refused:
                store.move_many(refused, task.now)
        except StateWriteError as exc:  # they stay NEW: the backend's status finds them (reconcile)
            result.errors.append(f"after submit: {exc}")
            return


def _act(task: EntryTask, store: PilotStore, submitter: Any, decision: Any, result: EntryResult) -> None:
    if not decision.remove and not decision.release:
        return
    by_id = {r.pilot_id: r for r in store.active(task.entry.name)}
    removals = [(pid, why) for pid, why in decision.remove if pid in by_id]
    if removals:
        store.move_many([(pid, S.REMOVING, why) for pid, why in removals], task.now)
        try:
            submitter.remove([PilotRef(pid, by_id[pid].backend_id) for pid, _ in removals])
        except GlideinError as exc:
            result.errors.append(f"remove: {exc}")
        result.removed = len(removals)
    releases = [PilotRef(pid, by_id[pid].backend_id) for pid in decision.release if pid in by_id]
    if releases:
        try:
            submitter.release(releases)
            store.count_release([r.pilot_id for r in releases])
        except GlideinError as exc:
            result.errors.append(f"release: {exc}")


def _status(
    task: EntryTask, submitter: Any, records: list[PilotRecord], result: EntryResult
) -> Mapping[str, BackendStatus] | None:
    if task.status_failed:
        result.errors.append(f"status: {task.status_failed}")
        return None
    if task.statuses is not None:
        return task.statuses
    try:
        statuses: Mapping[str, BackendStatus] = submitter.status(
            [PilotRef(r.pilot_id, r.backend_id) for r in records]
        )
    except GlideinError as exc:
        result.errors.append(f"status: {exc}")
        return None
    return statuses


def _as_done(lines: list[str], entry: str, decided: Mapping[str, int], result: EntryResult) -> list[str]:
    """The decision's lines saying what was submitted: `submit=` of a client is what the backend
    took (and `not_submitted=` the rest), never what was decided; its outcome (ads) likewise."""
    out = []
    for line in lines:
        text = line
        for client, wanted in decided.items():
            done = result.submitted_by.get(client, 0)
            if done != wanted and text.startswith(f"entry={entry} client={client} "):
                text = text.replace(f" submit={wanted} ", f" submit={done} not_submitted={wanted - done} ")
        out.append(text)
    for outcome in result.clients:
        outcome.submit = result.submitted_by.get(outcome.client, 0)
    return out


def work_entry(task: EntryTask) -> EntryResult:
    """Reconcile, decide and act for one entry; never raises for the entry's own failures."""
    started = time.monotonic()
    result = EntryResult(task.entry.name)
    try:
        _work(task, result)
    except StateWriteError as exc:  # its bookkeeping cannot be written: the entry stops (fail closed)
        result.errors.append(str(exc))
    except Exception as exc:  # one entry's failure never blocks another
        result.errors.append(f"internal: {type(exc).__name__}: {exc}")
        log.debug("entry=%s traceback", task.entry.name, exc_info=exc)
    result.seconds = time.monotonic() - started
    return result


def record_reports(store: PilotStore, entry: str, state_dir: Path, since: float) -> int:
    """Record the final reports of `entry`'s pilots that ended after `since`; how many were new."""
    from glidein.factory.web import read_report

    reports: dict[str, tuple[str, str | None]] = {}
    for pilot_id in store.unreported_ends(entry, since):
        report = read_report(state_dir, pilot_id)
        status = report.get("status") if report else None
        if report is None or status not in ("success", "failure"):
            continue
        klass = report.get("failure_class")
        reports[pilot_id] = (str(status), klass if isinstance(klass, str) else None)
    if reports:
        store.set_reports(reports)
    return len(reports)


def collect_packed(store: PilotStore, submitter: Any, task: EntryTask) -> None:
    """Self-contained pilots that ended: their log and report, from their stdout (selfcontained.py)."""
    from glidein.factory.selfcontained import collect

    where = getattr(submitter, "stdout_path", None)
    if where is None:
        return
    for pilot_id in store.unreported_ends(task.entry.name, task.reports_since):
        collect(Path(task.state_dir), pilot_id, where(pilot_id))


def _work(task: EntryTask, result: EntryResult) -> None:
    store = _store(task.db_path)
    factory = task.pilots.factory if task.pilots is not None else ""
    submitter, relay_block = relay_route(
        task.entry, factory, task.work_dir, make_submitter(task.entry, task.work_dir), store
    )
    records = store.active(task.entry.name)
    statuses = _status(task, submitter, records, result)
    if statuses is not None and _apply_status(store, records, statuses, task.now):
        records = store.active(task.entry.name)
    if task.state_dir:
        if getattr(task.entry, "self_contained", False):
            collect_packed(store, submitter, task)
        record_reports(store, task.entry.name, Path(task.state_dir), task.reports_since)
    inputs = EntryInputs(
        policy_of(task.entry),
        [r.request for r in task.requests],
        [r.view for r in records],
        task.now,
        task.rate_allowance,
        status_ok=statuses is not None,
        down_clients=task.down_clients,
        blocked_reason=task.blocked_reason
        or relay_block
        or ("" if task.pilots is not None else "no stage to point pilots at"),
        shared_budgets=task.shared_budgets,
        request_expiries=store.request_expiries(task.entry.name),
    )
    decision = decide(inputs)
    result.clients = list(decision.clients.values())
    if decision.submit:
        _submit(task, store, submitter, decision.submit, result)
    result.lines = _as_done(decision.lines, task.entry.name, decision.submit, result)
    if relay_block and task.requests:
        result.lines.append(f"entry={task.entry.name} nothing submitted: {relay_block}")
    _act(task, store, submitter, decision, result)
    if decision.submit or decision.remove or decision.release:  # else the pilots are as read above
        records = store.active(task.entry.name)
    for rec in records:
        key = "idle" if rec.view.is_idle else rec.state.value
        result.totals[key] = result.totals.get(key, 0) + 1
