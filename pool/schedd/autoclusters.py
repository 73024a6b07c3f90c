"""Autoclusters: jobs grouped by every attribute except per-job ones, counted incrementally.

An attribute in PER_JOB (ClusterId, ProcId, Args, Out, ...) is left out of the grouping
unless some expression of the same job references it, so any attribute an expression
references is constant within an autocluster (docs/INTERFACES.md section 5). The reference scan
is a conservative identifier scan outside string literals: it may keep an attribute
significant needlessly, never the reverse.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

from glidein.common import classads

PER_JOB = frozenset(
    name.lower()
    for name in (
        "ClusterId",
        "ProcId",
        "QDate",
        "GlobalJobId",
        "Args",
        "Arguments",
        "Out",
        "Err",
        "In",
        "Iwd",
        "Cmd",
        "Env",
        "Environment",
        "TransferInput",
        "UserLog",
        "EnteredCurrentStatus",
        "JobStatus",
        "LastJobStatus",
        "NumJobStarts",
        "ExitCode",
        "JobStartDate",
        "CompletionDate",
        "RemoteHost",
        "LastRemoteHost",
        "AutoClusterId",
        "HoldReason",
        "HoldReasonCode",
        "HoldReasonSubCode",
        "JobCurrentStartDate",
        "ShadowBday",
        "RemoteWallClockTime",
        "TotalSubmitProcs",
        "ServerTime",
        "RemoteUserCpu",
        "ImageSize",
    )
)
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|([A-Za-z_][A-Za-z0-9_]*)')
IDLE, RUNNING, REMOVED, COMPLETED, HELD = 1, 2, 3, 4, 5
OLD_IDLE_S = 600


@functools.lru_cache(maxsize=65536)
def referenced_names(text: str) -> frozenset[str]:
    """Lower-cased identifiers of an expression text, string literals skipped."""
    return frozenset(m.group(1).lower() for m in _TOKENS.finditer(text) if m.group(1))


def expression_refs(attrs: dict[str, str]) -> set[str]:
    """Lower-cased names referenced by the non-string-literal values of `attrs`."""
    refs: set[str] = set()
    for text in attrs.values():
        if not text.startswith('"'):
            refs |= referenced_names(text)
    return refs


def significant(attrs: dict[str, str]) -> dict[str, str]:
    """The attributes that define a job's autocluster."""
    refs = expression_refs(attrs)
    return {k: v for k, v in attrs.items() if k.lower() not in PER_JOB or k.lower() in refs}


def only_per_job(varying: dict[str, str], common_refs: set[str]) -> bool:
    """True when per-job values leave the autocluster unchanged: per-job names, string literals,
    referenced by no expression (then `significant` of the whole job equals that of the common part)."""
    for name, text in varying.items():
        low = name.lower()
        if low not in PER_JOB or low in common_refs or not text.startswith('"'):
            return False
    return True


def signature(sig_attrs: dict[str, str]) -> str:
    return json.dumps(sorted(sig_attrs.items()), separators=(",", ":"))


@dataclass
class AutoCluster:
    id: int
    attrs: dict[str, str]
    counts: dict[int, int] = field(default_factory=dict)  # JobStatus -> number of jobs
    idle_since: dict[int, int] = field(default_factory=dict)  # unix second idle jobs went idle -> count
    _ad: classads.ClassAd | None = None
    _matcher: classads.OneWayMatcher | None = None

    @property
    def ad(self) -> classads.ClassAd:
        """The representative job ad (significant attributes plus AutoClusterId), built once."""
        if self._ad is None:
            body = "; ".join(f"{name} = {text}" for name, text in self.attrs.items())
            self._ad = classads.parse_ad(f"[{body}; AutoClusterId = {self.id}]")
        return self._ad

    @property
    def matcher(self) -> classads.OneWayMatcher:
        """The job's Requirements flattened once: a fast pre-filter before the exact two-way match."""
        if self._matcher is None:
            self._matcher = classads.OneWayMatcher(self.ad)
        return self._matcher

    @property
    def prio(self) -> int:
        value = classads.evaluate(self.attrs.get("JobPrio", "0"), self.ad)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def idle(self) -> int:
        return self.counts.get(IDLE, 0)

    @property
    def running(self) -> int:
        return self.counts.get(RUNNING, 0)

    def old_idle(self, now: float, age: float = OLD_IDLE_S) -> int:
        """Idle jobs that have been idle for `age` seconds or more (glideinWMS's "old idle")."""
        cutoff = now - age
        return sum(count for since, count in self.idle_since.items() if since <= cutoff)


class AutoClusters:
    """All autoclusters by id and by signature; counts changed only through `move`."""

    def __init__(self) -> None:
        self.by_id: dict[int, AutoCluster] = {}
        self.by_sig: dict[str, int] = {}

    def add(self, ac_id: int, sig_attrs: dict[str, str]) -> AutoCluster:
        cluster = AutoCluster(ac_id, sig_attrs)
        self.by_id[ac_id] = cluster
        self.by_sig[signature(sig_attrs)] = ac_id
        return cluster

    def find(self, sig_attrs: dict[str, str]) -> int | None:
        return self.by_sig.get(signature(sig_attrs))

    def move(
        self, ac_id: int, old: int | None, new: int | None, n: int = 1, *, since: int | None = None
    ) -> None:
        """`n` jobs of autocluster `ac_id` change status `old` -> `new` (None: enter/leave).

        `since` is when they went idle (leaving IDLE) or now (entering IDLE), for `old_idle`.
        """
        cluster = self.by_id[ac_id]
        if old is not None:
            cluster.counts[old] = cluster.counts.get(old, 0) - n
        if new is not None:
            cluster.counts[new] = cluster.counts.get(new, 0) + n
        if since is not None and IDLE in (old, new) and old != new:
            left = cluster.idle_since.get(since, 0) + (n if new == IDLE else -n)
            if left > 0:
                cluster.idle_since[since] = left
            else:
                cluster.idle_since.pop(since, None)

    def active(self) -> list[AutoCluster]:
        """Autoclusters with idle, running or held jobs."""
        return [ac for ac in self.by_id.values() if ac.idle or ac.running or ac.counts.get(HELD, 0)]
