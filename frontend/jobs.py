"""Job sources: the embedded schedd's autocluster API and HTCondor schedds through `htcondor2.Schedd`.

Every source returns `JobCluster`s (a representative job ad with its idle / old idle / running
counts) for one group's job constraint. A source that does not answer raises GlideinError;
`collect` logs one line, skips it for this cycle and counts the others.

* `EmbeddedSchedd`: `GET <url>/autoclusters?constraint=...` (docs/INTERFACES.md section 5). An item may
  carry `old_idle`; without it the old idle jobs are not known (`JobCluster.old_idle` None).
* `HTCondorSchedd`, mode `jobs` (default): a projected job query of idle and running jobs, grouped
  here by the values of the projected attributes (per-job ones left out); old idle = idle for
  600 s or more (now - EnteredCurrentStatus), as glideinWMS. Mode `autocluster`: the schedd's own
  autoclusters (`QueryOpt.AutoCluster`), once for idle and once for running jobs, counted by
  JobCount (old idle not known).
* Schedds come from the config (`ScheddRef`) and, with `discover_schedds`, from schedd ads
  (MyType "Scheduler") on the user-pool collector: `ScheddHttpAddress` -> embedded, else an
  HTCondor schedd located by its ad.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from glidein.common import classads
from glidein.common.classads import ClassAd
from glidein.common.errors import ClassAdError, GlideinError
from glidein.frontend.match_index import top_name
from glidein.frontend.matching import JobCluster

log = logging.getLogger(__name__)
OLD_IDLE_S = 600
IDLE, RUNNING = 1, 2
PER_JOB = frozenset(
    a.lower()
    for a in (
        "ClusterId",
        "ProcId",
        "JobStatus",
        "EnteredCurrentStatus",
        "QDate",
        "GlobalJobId",
        "ServerTime",
        "LastJobStatus",
        "NumJobStarts",
        "JobCurrentStartDate",
        "RemoteHost",
        "Args",
        "Arguments",
    )
)
BASE_PROJECTION = (
    "ClusterId",
    "ProcId",
    "JobStatus",
    "EnteredCurrentStatus",
    "Owner",
    "RequestCpus",
    "RequestMemory",
    "RequestDisk",
    "RequestGPUs",
    "Requirements",
)


class JobSource(Protocol):
    name: str

    def clusters(self, constraint: str, projection: Sequence[str] = ()) -> list[JobCluster]: ...


class ScheddLike(Protocol):
    """What we use of `htcondor2.Schedd` (tests pass a fake)."""

    def query(
        self, constraint: str = "True", projection: list[str] = ..., limit: int = -1, opts: Any = ...
    ) -> list[ClassAd]: ...


# ---------------------------------------------------------------- embedded schedd


class AdCache:
    """Autocluster ads parsed before, by their JSON text: a schedd's autoclusters change little
    from one cycle to the next, and parsing 50,000 ads costs seconds (bench/frontend.py). Holds
    what this cycle and the previous one used (`next_cycle`); the ads it returns are shared, never
    changed by their users."""

    def __init__(self) -> None:
        self._now: dict[object, ClassAd] = {}
        self._before: dict[object, ClassAd] = {}
        self.parsed = 0

    def next_cycle(self) -> None:
        self._before, self._now = self._now, {}

    def ad(self, value: object) -> ClassAd:
        key = _json_key(value)
        ad = self._now.get(key)
        if ad is None:
            ad = self._before.pop(key, None)
            if ad is None:
                ad = classads.parse_ad(json.dumps(value))
                self.parsed += 1
            self._now[key] = ad
        return ad


def _json_key(value: object) -> object:
    """A decoded JSON ad as a dict key: (name, type, value) per attribute, typed so that 1, 1.0
    and true differ (Python holds them equal); its JSON text when a value is a list or an object."""
    if isinstance(value, dict):
        key = tuple((name, type(v), v) for name, v in value.items())
        try:
            hash(key)
        except TypeError:
            pass
        else:
            return key
    return json.dumps(value, separators=(",", ":"))


class EmbeddedSchedd:
    def __init__(self, name: str, url: str, timeout: float = 30.0, cache: AdCache | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise GlideinError(f"schedd {name}: URL must be http:// or https://, got {url!r}")
        self.name, self.url, self.timeout = name, url.rstrip("/"), timeout
        self.cache = cache or AdCache()

    def _get(self, path: str) -> object:
        try:
            with urllib.request.urlopen(self.url + path, timeout=self.timeout) as reply:  # noqa: S310 - checked scheme
                return json.loads(reply.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GlideinError(f"schedd {self.name} at {self.url} does not answer: {reason}") from None

    def clusters(self, constraint: str, projection: Sequence[str] = ()) -> list[JobCluster]:
        """The schedd's autoclusters (they hold every significant attribute: no projection)."""
        items = self._get("/autoclusters?" + urllib.parse.urlencode({"constraint": constraint}))
        if not isinstance(items, list):
            raise GlideinError(f"schedd {self.name}: /autoclusters did not return a list")
        out = []
        for item in items:
            try:
                out.append(_cluster_from_item(item, self.name, self.cache))
            except (ClassAdError, KeyError, TypeError, ValueError) as exc:
                log.warning("schedd=%s skipping a malformed autocluster: %s", self.name, exc)
        return out


def _cluster_from_item(item: Any, schedd: str, cache: AdCache | None = None) -> JobCluster:
    ad = cache.ad(item["ad"]) if cache is not None else classads.parse_ad(json.dumps(item["ad"]))
    idle, running = int(item["idle"]), int(item["running"])
    old = item.get("old_idle")
    if idle < 0 or running < 0:
        raise ValueError(f"negative counts in autocluster {item.get('id')}")
    return JobCluster(ad, idle, running, None if old is None else int(old), schedd)


# ---------------------------------------------------------------- HTCondor schedd


def job_projection(match_expr: str, entry_ads: Iterable[ClassAd] = ()) -> list[str]:
    """Job attributes to fetch: the usual ones, what the match expression reads of MY, and what
    the entries' Requirements read of TARGET (the job)."""
    names = set(BASE_PROJECTION)
    for ref in classads.external_refs(match_expr):
        if not ref.lower().startswith("target."):
            names.add(top_name(ref))
    for entry in entry_ads:
        if "Requirements" in entry:
            names |= {top_name(r) for r in classads.external_refs(entry.lookup("Requirements"), entry)}
    return sorted(names, key=str.lower)


class HTCondorSchedd:
    def __init__(
        self,
        name: str,
        schedd: ScheddLike,
        projection: Sequence[str] = BASE_PROJECTION,
        mode: str = "jobs",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name, self.schedd, self.mode, self.clock = name, schedd, mode, clock
        self.projection = list(projection)

    def _query(self, constraint: str, projection: list[str], opts: Any = None) -> list[ClassAd]:
        try:
            if opts is None:
                return list(self.schedd.query(constraint, projection))
            return list(self.schedd.query(constraint, projection, opts=opts))
        except GlideinError:
            raise
        except Exception as exc:  # the bindings raise HTCondorException/IOError/...: one line
            raise GlideinError(f"schedd {self.name} does not answer: {exc}") from None

    def clusters(self, constraint: str, projection: Sequence[str] = ()) -> list[JobCluster]:
        if self.mode == "autocluster":
            return self._autoclusters(constraint)
        wanted = f"({constraint}) && (JobStatus == {IDLE} || JobStatus == {RUNNING})"
        fetch = list(projection) or self.projection
        return group_jobs(self._query(wanted, fetch), self.name, self.clock())

    def _autoclusters(self, constraint: str) -> list[JobCluster]:
        import htcondor2

        counts: dict[object, list[Any]] = {}
        for status in (IDLE, RUNNING):
            ads = self._query(f"({constraint}) && JobStatus == {status}", [], htcondor2.QueryOpt.AutoCluster)
            for ad in ads:
                key = classads.eval_attr(ad, "AutoClusterId")
                row = counts.setdefault(key, [ad, 0, 0])
                count = classads.eval_attr(ad, "JobCount")
                row[status] += count if isinstance(count, int) and not isinstance(count, bool) else 0
        return [JobCluster(ad, idle, running, None, self.name) for ad, idle, running in counts.values()]


def group_jobs(jobs: Iterable[ClassAd], schedd: str, now: float) -> list[JobCluster]:
    """Idle and running job ads grouped by every attribute but the per-job ones."""
    groups: dict[tuple[tuple[str, str], ...], list[Any]] = {}
    for job in jobs:
        status = classads.eval_attr(job, "JobStatus")
        if status not in (IDLE, RUNNING):
            continue
        key = tuple(sorted((n.lower(), str(job.lookup(n))) for n in job if n.lower() not in PER_JOB))
        row = groups.setdefault(key, [job, 0, 0, 0])
        if status == RUNNING:
            row[2] += 1
            continue
        row[1] += 1
        entered = classads.eval_attr(job, "EnteredCurrentStatus")
        if isinstance(entered, int | float) and not isinstance(entered, bool) and now - entered >= OLD_IDLE_S:
            row[3] += 1
    return [JobCluster(ad, idle, running, old, schedd) for ad, idle, running, old in groups.values()]


# ---------------------------------------------------------------- which schedds


class LazyHTCondorSchedd:
    """An HTCondor schedd located when first queried (by its ad, or by name through the pool)."""

    def __init__(self, name: str, ad: ClassAd | None, query: str = "jobs") -> None:
        self.name, self.ad, self.query = name, ad, query

    def clusters(self, constraint: str, projection: Sequence[str] = ()) -> list[JobCluster]:
        import htcondor2

        try:
            schedd = htcondor2.Schedd(self.ad) if self.ad is not None else htcondor2.Schedd()
        except Exception as exc:
            raise GlideinError(f"schedd {self.name}: cannot locate it: {exc}") from None
        return HTCondorSchedd(self.name, schedd, mode=self.query).clusters(constraint, projection)


def sources_from_ads(
    ads: Iterable[ClassAd], known: Iterable[str] = (), cache: AdCache | None = None
) -> list[JobSource]:
    """Schedds found as schedd ads on the user pool (those named in `known` are left out); the
    embedded ones share `cache`."""
    skip = set(known)
    out: list[JobSource] = []
    for ad in ads:
        name = classads.eval_attr(ad, "Name")
        if not isinstance(name, str) or name in skip:
            continue
        skip.add(name)
        url = classads.eval_attr(ad, "ScheddHttpAddress")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            out.append(EmbeddedSchedd(name, url, cache=cache))
        elif isinstance(classads.eval_attr(ad, "MyAddress"), str):
            out.append(LazyHTCondorSchedd(name, ad))
        else:
            log.warning("schedd ad Name=%s has neither ScheddHttpAddress nor MyAddress; skipped", name)
    return out


def collect(
    sources: Iterable[JobSource], constraint: str, projection: Sequence[str] = ()
) -> tuple[list[JobCluster], list[str]]:
    """Clusters from every source that answers, and the names of those that did not."""
    clusters: list[JobCluster] = []
    failed: list[str] = []
    for source in sources:
        try:
            clusters.extend(source.clusters(constraint, projection))
        except GlideinError as exc:
            log.warning("schedd=%s skipped this cycle: %s", source.name, exc)
            failed.append(source.name)
    return clusters, failed
