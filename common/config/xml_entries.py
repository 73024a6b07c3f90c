"""glideinWMS `<entry>`, `<entry_set>`, `<config>`, `<attrs>` and `<files>` -> our entry data.

Part of `glidein config import-xml` (see xml_import.py for the whole mapping). Every attribute or
element read here is marked used on its Node; the rest is listed as not mapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glidein.common.config.xml_tree import Node

Data = dict[str, Any]


def add_entries(root: Node, context: EntryContext, out: Data) -> None:
    """Append the `<entries>` and `<entry_sets>` of `root` (main file or config.d fragment)."""
    entries = root.child("entries")
    found = [
        _entry(node, context, _Config()) for node in (entries.children_named("entry") if entries else [])
    ]
    out["entries"] = out.get("entries", []) + found
    sets = root.child("entry_sets")
    entry_sets = [_entry_set(node, context) for node in (sets.children_named("entry_set") if sets else [])]
    if entry_sets:
        out["entry_sets"] = out.get("entry_sets", []) + entry_sets


def drop_none(data: Data) -> Data:
    return {key: value for key, value in data.items() if value is not None}


_ATTR_FLAGS = ("publish", "parameter", "glidein_publish", "job_publish", "const")


def attrs_of(attrs: Node | None) -> Data:
    out: Data = {}
    for node in attrs.children_named("attr") if attrs else []:
        name = node.take("name")
        kind = node.take("type", "string") or "string"
        value: Any = node.take("value", "")
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


def _entry(node: Node, context: EntryContext, inherited: _Config) -> Data:
    """One `<entry>`; `inherited` holds limits etc. from an enclosing entry set."""
    gridtype = node.take("gridtype", "condor") or "condor"
    gatekeeper = node.take("gatekeeper") or ""
    submitter: Data = {"type": "htcondor", "grid_resource": f"{gridtype} {gatekeeper}".strip()}
    schedd = node.take("schedd_name") or context.schedd
    if schedd:
        submitter["schedd"] = schedd
    out: Data = {"name": node.take("name"), "gatekeeper": gatekeeper}
    enabled = node.take_bool("enabled")
    if enabled is not None:
        out["enabled"] = enabled
    auth = node.take("auth_method")
    if auth:
        out["auth_methods"] = [part.strip() for part in auth.split(",") if part.strip()]
    out["submitter"] = submitter
    attrs = attrs_of(node.child("attrs"))
    trust_domain = node.take("trust_domain")
    if trust_domain and "GLIDEIN_TrustDomain" not in attrs:
        attrs["GLIDEIN_TrustDomain"] = {"value": trust_domain, "type": "string"}
    if attrs:
        out["attrs"] = attrs
    own = _config(node.child("config"))
    out.update(_merge(inherited.data, own.data))
    submit_attrs = {**inherited.submit_attrs, **own.submit_attrs}
    if submit_attrs:
        submitter["submit_attrs"] = submit_attrs
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
    submit_attrs: dict[str, str] = field(default_factory=dict)


def _config(config: Node | None) -> _Config:
    """`<config>` of an entry or entry set -> limits, held, removal, stale_age and submit attrs."""
    result = _Config()
    if config is None:
        return result
    limits: Data = {}
    max_jobs = config.child("max_jobs")
    if max_jobs is not None:
        limits.update(_max_jobs(max_jobs))
    out: Data = {}
    submit = config.child("submit")
    if submit is not None:
        limits.update(_submit_limits(submit))
        for attr in grand(submit, "submit_attrs", "submit_attr"):
            result.submit_attrs[attr.take("name") or ""] = attr.take("value", "") or ""
    if limits:
        out["limits"] = limits
    stale = config.child("stale_age")
    if stale is not None:
        out["stale_age"] = drop_none({k: stale.take_int(k) for k in ("idle", "running")})
    release = config.child("release")
    if release is not None:
        out["held"] = drop_none({"max_per_cycle": release.take_int("max_per_cycle")})
    remove = config.child("remove")
    if remove is not None:
        out["removal"] = drop_none({"max_per_cycle": remove.take_int("max_per_cycle")})
    result.data = {key: value for key, value in out.items() if value}
    return result


def grand(node: Node, middle: str, tag: str) -> list[Node]:
    inner = node.child(middle)
    return inner.children_named(tag) if inner is not None else []


def _job_limits(node: Node) -> Data:
    return drop_none(
        {
            "max_glideins": node.take_int("glideins"),
            "max_idle": node.take_int("idle"),
            "max_held": node.take_int("held"),
        }
    )


def _max_jobs(max_jobs: Node) -> Data:
    out: Data = {}
    per_entry = max_jobs.child("per_entry")
    if per_entry is not None:
        out.update(_job_limits(per_entry))
    default = max_jobs.child("default_per_frontend")
    if default is not None:
        out["default_per_frontend"] = _job_limits(default)
    per_frontend = {
        n.take("name") or "": _job_limits(n) for n in grand(max_jobs, "per_frontends", "per_frontend")
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
    shared = _config(node.child("config"))
    entries = node.child("entries")
    out["entries"] = [
        _entry(e, context, shared) for e in (entries.children_named("entry") if entries else [])
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
