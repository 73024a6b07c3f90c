"""`glidein q -better-analyze JOB`: why a job does not run, as condor_q -better-analyze tells it,
plus what the pilot system does about it.

Each top-level `&&` clause of the job's Requirements (and each resource request, which the schedd
checks when a slot claims) is evaluated with classad2 against every slot ad in the users' pool
collector (MY = the job, TARGET = the slot), and each Requirements clause also against every
glideresource ad there (the frontend publishes one per entry and group, carrying the entry's
attributes and how many pilots it requests for it: frontend/requests.py). The collector is
`-pool HOST:PORT`, else the one the schedd advertises to (its `--collector`). With `-wms
HOST:PORT` the entries are read from the WMS collector instead: the glidefactory ads (the
entries' attributes) and the frontends' glideclient ads (ReqIdleGlideins per entry,
common/glideclient.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from glidein.common import classads
from glidein.common.bus import Bus
from glidein.common.errors import BusError, GlideinError
from glidein.frontend.match_index import conjuncts
from glidein.pool.schedd.client import ScheddClient

RESOURCES = (
    ("RequestCpus", "Cpus"),
    ("RequestMemory", "Memory"),
    ("RequestDisk", "Disk"),
    ("RequestGPUs", "GPUs"),
)


@dataclass
class Clause:
    text: str
    slots: int  # slots for which it is true
    entries: int | None  # glideresource ads for which it is true (None: not asked of entries)


def _job(client: ScheddClient, job_id: str) -> classads.ClassAd:
    parts = job_id.strip().split(".")
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() and len(p) < 19 for p in parts):
        raise GlideinError(f"-better-analyze: bad job id {job_id[:40]!r} (expected CLUSTER.PROC)")
    constraint = f"ClusterId == {int(parts[0])}" + (
        f" && ProcId == {int(parts[1])}" if len(parts) == 2 else ""
    )
    found = client.jobs(constraint, include_done=True, limit=1)
    if not found:
        raise GlideinError(f"-better-analyze: no job {job_id} in the queue")
    return classads.parse_ad(json.dumps(found[0]))


def _true(expr: str, job: classads.ClassAd, target: classads.ClassAd) -> bool:
    return classads.evaluate(expr, job, target) is True


def clauses(
    job: classads.ClassAd, slots: list[classads.ClassAd], entries: list[classads.ClassAd]
) -> list[Clause]:
    """The Requirements clauses, then the resource requests, with how many slots/entries pass each."""
    requirements = dict(classads.to_old_pairs(job)).get("Requirements", "true")
    out = [
        Clause(text, sum(_true(text, job, s) for s in slots), sum(_true(text, job, e) for e in entries))
        for text in conjuncts(requirements)
    ]
    for request, offer in RESOURCES:
        value = classads.evaluate(request, job)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            text = f"TARGET.{offer} >= {request}"
            out.append(Clause(text, sum(_true(text, job, s) for s in slots), None))
    return out


def _str(ad: classads.ClassAd, name: str) -> str:
    value = classads.eval_attr(ad, name)
    return str(value) if isinstance(value, str | int) else "-"


def _fits(job: classads.ClassAd, slot: classads.ClassAd) -> bool:
    return all(_true(f"TARGET.{offer} >= {request}", job, slot) for request, offer in RESOURCES)


def _slot_summary(job: classads.ClassAd, slots: list[classads.ClassAd], job_id: str) -> tuple[str, int]:
    requirements = dict(classads.to_old_pairs(job)).get("Requirements", "true")
    wanted = [s for s in slots if _true(requirements, job, s)]
    willing = [s for s in wanted if classads.evaluate("Requirements", s, job) is True]
    able = sum(_fits(job, s) for s in willing)
    text = (
        f"{job_id}:  Run analysis summary ignoring user priority.  Of {len(slots)} machines,\n"
        f"      {len(slots) - len(wanted)} are rejected by your job's requirements\n"
        f"      {len(wanted) - len(willing)} reject your job because of their own requirements\n"
        f"      {len(willing) - able} have fewer free resources than your job requests\n"
        f"      {able} are able to run your job"
    )
    return text, able


def _entries_table(job: classads.ClassAd, entries: list[classads.ClassAd]) -> tuple[list[str], int, int]:
    requirements = dict(classads.to_old_pairs(job)).get("Requirements", "true")
    lines = [f"{'ENTRY':<32} {'FRONTEND GROUP':<20} {'MATCHES':<7} {'PILOTS ASKED':>12} {'RUNNING':>7}"]
    matched = asked = 0
    for ad in entries:
        ok = _true(requirements, job, ad)
        pilots = classads.eval_attr(ad, "GlideClientMonitorGlideinsRequestIdle")
        pilots = pilots if isinstance(pilots, int) and not isinstance(pilots, bool) else 0
        running = _str(ad, "GlideClientMonitorGlideinsRunning")
        if ok:
            matched, asked = matched + 1, asked + pilots
        entry, group = _str(ad, "GlideFactoryName"), _str(ad, "GlideClientName")
        lines.append(f"{entry:<32} {group:<20} {'yes' if ok else 'no':<7} {pilots:>12} {running:>7}")
    return lines, matched, asked


def _verdict(found: list[Clause], able: int, matched: int, asked: int) -> str:
    never = [i for i, c in enumerate(found) if c.slots == 0 and (c.entries is None or c.entries == 0)]
    if able:
        return f"Verdict: {able} slot(s) can run this job now."
    if matched:
        blocking = next((i for i, c in enumerate(found) if c.slots == 0), None)
        where = (
            f"; condition [{blocking}] {found[blocking].text} matches no slot yet"
            if blocking is not None
            else ""
        )
        return f"Verdict: waiting for a pilot: {matched} entries match, {asked} pilots asked for them{where}."
    if never:
        first = never[0]
        return (
            f"Verdict: the job can never run as it is: condition [{first}] {found[first].text} "
            "matches no slot and no entry."
        )
    return "Verdict: no slot and no entry can run this job (no single condition alone is to blame)."


def wms_entries(
    factory_ads: list[classads.ClassAd], requests: list[classads.ClassAd]
) -> list[classads.ClassAd]:
    """glidefactory ads with what the frontends ask of each (glideclient ReqIdleGlideins, summed
    over frontends and groups), in the attributes of a glideresource ad."""
    asked: dict[str, int] = {}
    clients: dict[str, list[str]] = {}
    for ad in requests:
        name, count = classads.eval_attr(ad, "ReqName"), classads.eval_attr(ad, "ReqIdleGlideins")
        if isinstance(name, str):
            number = count if isinstance(count, int) and not isinstance(count, bool) else 0
            asked[name] = asked.get(name, 0) + number
            clients.setdefault(name, []).append(_str(ad, "ClientName"))
    out: list[classads.ClassAd] = []
    for ad in factory_ads:
        name = _str(ad, "Name")
        extra = {
            "GlideFactoryName": classads.quote(name),
            "GlideClientName": classads.quote(",".join(clients.get(name, ["-"]))),
            "GlideClientMonitorGlideinsRequestIdle": str(asked.get(name, 0)),
        }
        pairs = [(k, v) for k, v in classads.to_old_pairs(ad) if k not in extra]
        out.append(classads.from_old_pairs(pairs + list(extra.items())))
    return out


def report(
    job: classads.ClassAd,
    slots: list[classads.ClassAd],
    entries: list[classads.ClassAd],
    source: str = "glideresource ads in the users' pool collector",
) -> list[str]:
    job_id = f"{classads.eval_attr(job, 'ClusterId')}.{classads.eval_attr(job, 'ProcId')}"
    requirements = dict(classads.to_old_pairs(job)).get("Requirements", "true")
    found = clauses(job, slots, entries)
    lines = [f"The Requirements expression for job {job_id} is", "", f"    {requirements}", ""]
    lines += [f"Job {job_id} defines the following attributes:", ""]
    lines += [f"    {name} = {classads.eval_attr(job, name)}" for name, _offer in RESOURCES]
    lines += ["", f"The Requirements expression for job {job_id} reduces to these conditions:", ""]
    lines += [
        "         Slots  Entries",
        "Step    Matched  Matched  Condition",
        "-----  --------  -------  ---------",
    ]
    for index, clause in enumerate(found):
        entries_text = "-" if clause.entries is None else str(clause.entries)
        lines.append(f"{f'[{index}]':<5}  {clause.slots:>8}  {entries_text:>7}  {clause.text}")
    summary, able = _slot_summary(job, slots, job_id)
    lines += ["", summary, "", f"Pilots ({source}):"]
    table, matched, asked = _entries_table(job, entries)
    lines += table if entries else ["    none: no frontend publishes entries to this pool"]
    lines += ["", _verdict(found, able, matched, asked)]
    return lines


def better_analyze(client: ScheddClient, job_id: str, pool: str | None, wms: str | None = None) -> int:
    job = _job(client, job_id)
    status = client.status()
    collector = pool or str(status.get("collector") or "")
    if not collector:
        raise GlideinError("-better-analyze: the schedd advertises to no collector: give -pool HOST:PORT")
    try:
        slots = Bus([collector], timeout=10.0, retries=1).query("Machine")
        if wms:
            bus = Bus([wms], timeout=10.0, retries=1)
            entries = wms_entries(bus.query("glidefactory"), bus.query("glideclient"))
            source = f"glidefactory and glideclient ads in the WMS collector {wms}"
        else:
            entries = Bus([collector], timeout=10.0, retries=1).query("glideresource")
            source = "glideresource ads in the users' pool collector"
    except BusError as exc:
        raise GlideinError(f"-better-analyze: {exc}") from None
    address = client.url.split("//", 1)[-1]
    print(f"\n\n-- Schedd: {status.get('name')} : <{address}>\n-- Pool: {collector}")
    print("\n".join(report(job, slots, entries, source)))
    return 0
