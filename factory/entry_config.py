"""What the factory cycle derives from its config: the factory-wide limits by budget key, each
entry's black-hole policy, and which frontends (security classes) may request an entry."""

from __future__ import annotations

from typing import Any

from glidein.factory.entry import Limits
from glidein.factory.health import HealthPolicy
from glidein.factory.requests import ValidRequest


def frontend_limits(cfg: Any) -> dict[str, Limits]:
    """Factory-wide limits by budget key: "fe:<frontend>" and "sc:<frontend>:<security class>"."""
    out: dict[str, Limits] = {}
    for fe in cfg.frontends:
        if fe.limits is not None:
            out[f"fe:{fe.name}"] = Limits(fe.limits.max_idle, fe.limits.max_glideins, fe.limits.max_held)
        for sc in fe.security_classes:
            if sc.limits is not None:
                out[f"sc:{fe.name}:{sc.name}"] = Limits(
                    sc.limits.max_idle, sc.limits.max_glideins, sc.limits.max_held
                )
    return out


def health_policy(entry: Any) -> HealthPolicy:
    """The entry's black-hole policy (`entries[].health`, same names as HealthPolicy)."""
    h = entry.health
    return HealthPolicy(
        min_ends=h.min_ends,
        fail_share=h.fail_share,
        quick_seconds=float(h.quick_seconds),
        window=float(h.window),
        backoff=float(h.backoff),
        max_backoff=float(h.max_backoff),
    )


def allowed(entry: Any, req: ValidRequest) -> bool:
    """True when the entry's `allow_frontends` (empty: everyone) lets this request's frontend in."""
    listed = entry.allow_frontends
    return not listed or any(
        a.frontend == req.request.frontend and a.security_class in ("All", req.request.security_class)
        for a in listed
    )
