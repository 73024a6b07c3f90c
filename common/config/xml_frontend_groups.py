"""One glideinWMS frontend `<group>` -> one entry of our frontend's `groups` (see `xml_frontend`).

The frontend-wide `<match>`, `<attrs>` and `<config ramp_up_attenuation>` are passed in as
`GroupDefaults`; like glideinWMS, the group's expressions are ANDed with the frontend's, and its
attributes override the frontend's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glidein.common import classads
from glidein.common.config.xml_match_expr import MatchExprRefused, combine
from glidein.common.config.xml_notes import Tally
from glidein.common.config.xml_tree import Node
from glidein.common.errors import ClassAdError

Data = dict[str, Any]
_START_ATTRS = ("GLIDECLIENT_Start", "GLIDECLIENT_Group_Start")  # glideinWMS folds them into start_expr
_LEVELS = ("NO", "WAIT", "IDLE", "ALL")


@dataclass
class Report:
    """What the import could not map: refusals stop it; the rest is counted per kind."""

    refused: list[str] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)

    def note(self, kind: str, where: str) -> None:
        self.tally.add(kind, where)


@dataclass
class GroupDefaults:
    """The frontend-level settings every group inherits."""

    match_expr: str | None = None
    start_expr: str | None = None
    factory_query: str | None = None
    job_query: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    start_attrs: list[str] = field(default_factory=list)
    ramp_up_attenuation: float | None = None
    credentials: list[str] = field(default_factory=list)


def convert_group(node: Node, defaults: GroupDefaults, report: Report) -> Data:
    """The group's YAML data; a refused expression is added to `report.refused`."""
    name = node.take("name") or "main"
    out: Data = {"name": name}
    enabled = node.take_bool("enabled")
    if enabled is False:
        out["enabled"] = False
    match = node.child("match")
    label = f"group {name!r}"
    for tag in ("factory", "job"):
        match_attrs_note(match.path(tag, "match_attrs") if match is not None else None, report)
    factory = match.child("factory") if match is not None else None
    job = match.child("job") if match is not None else None
    out["job_constraint"] = and_classad(
        defaults.job_query, _take(job, "query_expr"), job or node, label, report
    )
    out["factory_constraint"] = and_classad(
        defaults.factory_query, _take(factory, "query_expr"), factory or node, label, report
    )
    out["match_expr"] = _match_expr(node, match, defaults, report)
    out["limits"] = group_limits(node.child("config"), defaults, report)
    out["removal"] = removal(node.path("config", "glideins_removal"), report)
    params, start_attrs = attr_params(node.child("attrs"), report)
    start = and_classad(defaults.start_expr, _take(match, "start_expr"), match or node, label, report)
    for text in [*defaults.start_attrs, *start_attrs]:
        start = and_classad(start, text, node, label, report)
    params = {**defaults.params, **params}
    if start != "true":
        params["GLIDEIN_Start"] = start
    if params:
        out["params"] = params
    return out


def match_attrs_note(node: Node | None, report: Report) -> None:
    for attr in node.children_named("match_attr") if node is not None else []:
        attr.used_attrs.update(attr.attrs)
        report.note(
            "<match_attr> not needed: the attributes an expression references are found from it", attr.where()
        )


def _take(node: Node | None, name: str) -> str | None:
    return node.take(name) if node is not None else None


def _match_expr(group: Node, match: Node | None, defaults: GroupDefaults, report: Report) -> str:
    text = _take(match, "match_expr")
    where = (match or group).where()
    policy = match.take("policy_file") if match is not None else None
    if policy:
        report.refused.append(
            f"{where}: group {group.attrs.get('name')!r}: match policy_file {policy!r} is Python code "
            "and not translated: write its match as the group's `match_expr` in ClassAd"
        )
    try:
        return combine(defaults.match_expr, text)
    except MatchExprRefused as exc:
        parts = [" ".join(t.split()) for t in (defaults.match_expr, text) if t and t.strip() != "True"]
        shown = parts[0] if len(parts) == 1 else " and ".join(f"({t})" for t in parts)
        report.refused.append(
            f"{where}: group {group.attrs.get('name')!r}: match_expr {shown!r} not "
            f"translated: {exc.reason}; {exc.advice}"
        )
        return "false"


def and_classad(first: str | None, second: str | None, node: Node, label: str, report: Report) -> str:
    """`(first) && (second)` of two ClassAd expressions, `True` parts left out; an invalid one is refused."""
    parts = [" ".join((text or "").split()) for text in (first, second)]
    parts = [text for text in parts if text and text.lower() != "true"]
    for text in parts:
        try:
            classads.parse_expr(text)
        except ClassAdError:
            report.refused.append(f"{node.where()}: {label}: {text!r} is not a valid ClassAd expression")
            return "false"
    if not parts:
        return "true"
    return parts[0] if len(parts) == 1 else " && ".join(_parenthesized(p) for p in parts)


def _parenthesized(text: str) -> str:
    """`text` in parentheses, unless one pair already encloses all of it."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index < len(text) - 1:
            return f"({text})"
    return text if text.startswith("(") and depth == 0 else f"({text})"


def group_limits(config: Node | None, defaults: GroupDefaults, report: Report) -> Data:
    """`<config>` of a group: per-entry and group limits, lifetime and ramp-up."""
    out: Data = {}
    if config is None:
        ramp = defaults.ramp_up_attenuation
        return {"ramp_up_attenuation": max(ramp, 1.0)} if ramp is not None else out
    idle = config.child("idle_glideins_per_entry")
    if idle is not None:
        out["idle_glideins_per_entry"] = _ints(idle, "max", "reserve")
    running = config.child("running_glideins_per_entry")
    if running is not None:
        out["running_glideins_per_entry"] = _ints(running, "max", "min")
        relative = running.take_float("relative_to_queue")
        if relative is not None:
            out["running_glideins_per_entry"]["relative_to_queue"] = relative
    for tag in ("idle_vms_per_entry", "idle_vms_total", "running_glideins_total"):
        curb = curb_of(config.child(tag), report)
        if curb:
            out[tag] = curb
    lifetime = config.path("idle_glideins_lifetime")
    if lifetime is not None and lifetime.take_int("max") is not None:
        out["idle_glideins_lifetime"] = int(lifetime.attrs["max"])
    ramp = config.take_float("ramp_up_attenuation")
    ramp = ramp if ramp is not None else defaults.ramp_up_attenuation
    if ramp is not None:
        if ramp < 1.0:
            report.note("ramp_up_attenuation below 1 raised to 1 (it divides the idle jobs)", config.where())
        out["ramp_up_attenuation"] = max(ramp, 1.0)
    return out


def _ints(node: Node, *names: str) -> Data:
    return {name: value for name in names if (value := node.take_int(name)) is not None}


def curb_of(node: Node | None, report: Report) -> Data:
    """`<... max curb>` -> {max, curb}; a curb above max is lowered to max (here curb <= max)."""
    if node is None:
        return {}
    out = _ints(node, "max", "curb")
    if "max" in out and "curb" in out and out["curb"] > out["max"]:
        report.note(f"<{node.tag}> curb above max lowered to max", node.where())
        out["curb"] = out["max"]
    return out


def removal(node: Node | None, report: Report) -> Data:
    """`<glideins_removal type wait margin requests_tracking>`; absent: glideinWMS never removes (NO)."""
    if node is None:
        return {"max_level": "NO"}
    level = (node.take("type") or "NO").upper()
    if level not in _LEVELS:
        report.note(f"<glideins_removal> type not one of {', '.join(_LEVELS)}: NO used", node.where())
        level = "NO"
    out: Data = {"max_level": level}
    wait = node.take_int("wait")
    if wait is not None:
        out["wait_cycles"] = max(wait, 1)
    margin = node.take_int("margin")
    if margin is not None:
        out["margin"] = margin
    if node.take_bool("requests_tracking"):
        report.note(
            "<glideins_removal requests_tracking=True> not mapped: removal here escalates NO -> WAIT "
            "-> IDLE -> ALL with the demand",
            node.where(),
        )
    return out


def attr_params(attrs: Node | None, report: Report) -> tuple[dict[str, str], list[str]]:
    """`<attrs><attr name value type ...>` -> GlideinParam values, and start expressions found there."""
    params: dict[str, str] = {}
    starts: list[str] = []
    for attr in attrs.children_named("attr") if attrs is not None else []:
        name, value, kind = attr.take("name"), attr.take("value"), attr.take("type") or "string"
        attr.take("parameter")  # parameter or constant: both reach the pilot's glidein_config
        attr.take("const")
        if name is None or value is None:
            continue
        if kind == "expr":
            report.note(
                "<attr type='expr'> not mapped: a Python expression evaluated per entry", attr.where()
            )
            continue
        for flag in ("glidein_publish", "job_publish"):
            if attr.take_bool(flag):
                report.note(
                    f"<attr {flag}=True> not published: the value reaches the pilot's glidein_config only",
                    attr.where(),
                )
        if name in _START_ATTRS:
            starts.append(value)
        else:
            params[name] = value
    return params, starts
