"""glideinWMS `<entry>`, `<entry_set>`, `<config>`, `<attrs>` and `<files>` -> our entry data.

Part of `glidein config import-xml` (see xml_import.py for the whole mapping). Every attribute or
element read here is marked used on its Node; the rest is listed as not mapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glidein.common.config.xml_extras import comment_of, entry_extras, restrictions
from glidein.common.config.xml_grid import SubmitAttr, for_grid_type, grid_submitter, read_submit_attrs
from glidein.common.config.xml_notes import Tally
from glidein.common.config.xml_tree import Node

Data = dict[str, Any]


def add_entries(root: Node, context: EntryContext, out: Data) -> None:
    """Append the `<entries>` and `<entry_sets>` of `root` (main file or config.d fragment)."""
    entries = root.child("entries")
    for node in entries.children_named("entry") if entries else []:
        _replace_or_add(out.setdefault("entries", []), _entry(node, context, _Config(), ""), node, context)
    sets = root.child("entry_sets")
    for node in sets.children_named("entry_set") if sets else []:
        _replace_or_add(out.setdefault("entry_sets", []), _entry_set(node, context), node, context)


def _replace_or_add(items: list[Data], item: Data, node: Node, context: EntryContext) -> None:
    """glideinWMS merges config.d by name: an entry (set) named again replaces the earlier one."""
    index = context.positions.setdefault(node.tag, {}).get(item["name"])
    if index is None:
        context.positions[node.tag][item["name"]] = len(items)
        items.append(item)
    else:
        items[index] = item
        context.tally.add(
            f"<{node.tag}> named again: the later one replaces the earlier, as in glideinWMS", node.where()
        )


def drop_none(data: Data) -> Data:
    return {key: value for key, value in data.items() if value is not None}


_ATTR_FLAGS = ("publish", "parameter", "glidein_publish", "job_publish", "const")


def attrs_of(attrs: Node | None, comments: list[str] | None = None) -> Data:
    """`<attr>`s; glideinWMS `type="expr"` (an HTCondor config value) becomes `type: config`."""
    out: Data = {}
    for node in attrs.children_named("attr") if attrs else []:
        name = node.take("name")
        kind = node.take("type", "string") or "string"
        kind = "config" if kind == "expr" else kind
        value: Any = node.take("value", "")
        comment = comment_of(node)
        if comment and comments is not None:
            comments.append(f"attrs.{name}: {comment}")
        if kind == "int" and isinstance(value, str):
            value = _int_or_text(value)
        item: Data = {"value": value, "type": kind}
        for flag in _ATTR_FLAGS:
            flag_value = node.take_bool(flag)
            if flag_value is not None:
                item[flag] = flag_value
        if name:
            out[name] = item
    return out


def _int_or_text(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text  # config check then reports it as not an integer


@dataclass
class EntryContext:
    schedd: str | None
    tally: Tally = field(default_factory=Tally)
    positions: dict[str, dict[str, int]] = field(default_factory=dict)  # tag -> name -> index


def _entry(node: Node, context: EntryContext, inherited: _Config, set_comment: str) -> Data:
    """One `<entry>`; `inherited` holds limits etc. from an enclosing entry set."""
    grid = grid_submitter(node, context.tally)
    submitter = grid.submitter
    submitter["cpus_from_attrs"] = False  # glideinWMS asks for cores only through submit_attrs
    schedd = node.take("schedd_name") or context.schedd
    if schedd:
        submitter["schedd"] = schedd
    gatekeeper = (node.attrs.get("gatekeeper") or "").strip()
    out: Data = {"name": node.take("name"), "gatekeeper": gatekeeper}
    enabled = node.take_bool("enabled")
    if enabled is not None:
        out["enabled"] = enabled
    auth = node.take("auth_method")
    if auth:
        out["auth_methods"] = [part.strip() for part in auth.split(",") if part.strip()]
    out["submitter"] = submitter
    comments = [text for text in (set_comment, comment_of(node)) if text]
    attrs = attrs_of(node.child("attrs"), comments)
    trust_domain = node.take("trust_domain")
    if trust_domain and "GLIDEIN_TrustDomain" not in attrs:
        attrs["GLIDEIN_TrustDomain"] = {"value": trust_domain, "type": "string"}
    if attrs:
        out["attrs"] = attrs
    own = _config(node.child("config"), context.tally)
    out.update(_merge(inherited.data, own.data))
    submit_attrs = {
        **grid.rsl_attrs,
        **for_grid_type(inherited.submit_attrs + own.submit_attrs, grid.kind, context.tally),
    }
    if submit_attrs:
        submitter["submit_attrs"] = submit_attrs
    pilot = {**inherited.pilot, **own.pilot}
    own_pilot, extras = entry_extras(node, context.tally)
    pilot.update(own_pilot)
    if pilot:
        out["pilot"] = pilot
    comments += inherited.comments + own.comments
    if comments:
        out["comment"] = "; ".join(comments)
    out.update(extras)
    allow = _allow(node.child("allow_frontends"))
    if allow:
        out["allow_frontends"] = allow
    files = files_of(node.child("files"))
    if files:
        out["files"] = files
    return out


def _merge(base: Data, own: Data) -> Data:
    merged = dict(base)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class _Config:
    data: Data = field(default_factory=dict)
    submit_attrs: list[SubmitAttr] = field(default_factory=list)
    pilot: Data = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


_SLEEP = "<{}> sleep: no meaning here (the factory {}s a cycle's pilots in one schedd call)"


def _config(config: Node | None, tally: Tally) -> _Config:
    """`<config>` of an entry or entry set -> limits, held, removal, stale_age, submit attrs, pilot."""
    result = _Config()
    if config is None:
        return result
    limits: Data = {}
    max_jobs = config.child("max_jobs")
    if max_jobs is not None:
        limits.update(_max_jobs(max_jobs, tally, result.comments))
    out: Data = {}
    submit = config.child("submit")
    if submit is not None:
        limits.update(_submit_limits(submit))
        result.submit_attrs = read_submit_attrs(submit)
        layout = submit.take("slots_layout")
        if layout:
            result.pilot["slots_layout"] = layout.strip().lower()
        _comment(submit, "submit", result.comments)
    if limits:
        out["limits"] = limits
    restrictions(config, tally)
    stale = config.child("stale_age")
    if stale is not None:
        out["stale_age"] = drop_none({k: stale.take_int(k) for k in ("idle", "running")})
    for tag, key, verb in (("release", "held", "release"), ("remove", "removal", "remove")):
        node = config.child(tag)
        if node is not None:
            out[key] = drop_none({"max_per_cycle": node.take_int("max_per_cycle")})
            if node.take("sleep") is not None:
                tally.add(_SLEEP.format(tag, verb), node.where())
    result.data = {key: value for key, value in out.items() if value}
    return result


def _comment(node: Node, what: str, comments: list[str]) -> None:
    text = comment_of(node)
    if text:
        comments.append(f"{what}: {text}")


def grand(node: Node, middle: str, tag: str) -> list[Node]:
    inner = node.child(middle)
    return inner.children_named(tag) if inner is not None else []


def _job_limits(node: Node, factories: int = 1) -> Data:
    found = {"max_glideins": "glideins", "max_idle": "idle", "max_held": "held"}
    values = {key: node.take_int(attr) for key, attr in found.items()}
    return {key: value // factories for key, value in values.items() if value is not None}


def _max_jobs(max_jobs: Node, tally: Tally, comments: list[str]) -> Data:
    """Limits; with `num_factories="N"` each is divided by N, as glideinWMS does."""
    factories = max(max_jobs.take_int("num_factories") or 1, 1)
    if factories > 1:
        tally.add("max_jobs num_factories: limits divided by it, as glideinWMS does", max_jobs.where())
    out: Data = {}
    per_entry = max_jobs.child("per_entry")
    if per_entry is not None:
        out.update(_job_limits(per_entry, factories))
        _comment(per_entry, "per_entry", comments)
    default = max_jobs.child("default_per_frontend")
    if default is not None:
        out["default_per_frontend"] = _job_limits(default, factories)
        _comment(default, "default_per_frontend", comments)
    per_frontend = {
        n.take("name") or "": _job_limits(n, factories)
        for n in grand(max_jobs, "per_frontends", "per_frontend")
    }
    if per_frontend:
        out["per_frontend"] = per_frontend
    return out


def _submit_limits(submit: Node) -> Data:
    cluster = submit.take_int("cluster_size")
    sleep = submit.take_float("sleep")
    out = drop_none({"max_per_cycle": submit.take_int("max_per_cycle"), "batch_size": cluster})
    if sleep is not None and sleep > 0:
        out["submit_rate"] = round((cluster or 1) / sleep, 3)
    return out


def _allow(allow: Node | None) -> list[Data]:
    return [
        drop_none({"frontend": n.take("name"), "security_class": n.take("security_class")})
        for n in (allow.children_named("allow_frontend") if allow else [])
    ]


def _entry_set(node: Node, context: EntryContext) -> Data:
    out: Data = {"name": node.take("alias") or node.take("name")}  # glideinWMS names sets by alias
    enabled = node.take_bool("enabled")
    if enabled is not None:
        out["enabled"] = enabled
    attrs = attrs_of(node.child("attrs"))
    if attrs:
        out["attrs"] = attrs
    allow = _allow(node.child("allow_frontends"))
    if allow:
        out["allow_frontends"] = allow
    shared = _config(node.child("config"), context.tally)
    set_comment = comment_of(node)
    entries = node.child("entries")
    out["entries"] = [
        _entry(e, context, shared, set_comment) for e in (entries.children_named("entry") if entries else [])
    ]
    return out


def files_of(files: Node | None) -> list[Data]:
    """`<files><file absfname ...>` that pilots run at setup: exec, source and untar files.

    Plain data files, wrappers and files run at other times have no counterpart here: the
    `<file>` element stays unmapped and is listed.
    """
    found: list[Data] = []
    for node in files.children_named("file") if files else []:
        kind = _file_kind(node)
        if kind is None or node.attrs.get("time", "setup") != "setup" or "absfname" not in node.attrs:
            node.used = False
            continue
        for flag in ("executable", "untar", "type", "time"):
            node.take(flag)
        item: Data = {"path": node.take("absfname"), "kind": kind}
        period = node.take_int("period")
        if period:
            item["period"] = period
        options = node.child("untar_options")
        untar_dir = options.take("dir") if options is not None else None
        if untar_dir:
            item["untar_dir"] = untar_dir
        found.append(item)
    return found


def _file_kind(node: Node) -> str | None:
    flags = {name: node.attrs.get(name, "").strip().lower() for name in ("executable", "untar", "type")}
    if flags["untar"] == "true" or flags["type"] == "untar":
        return "untar"
    if flags["executable"] == "true" or flags["type"] in ("exec", "run"):
        return "exec"
    if flags["type"] == "source":
        return "source"
    return None
