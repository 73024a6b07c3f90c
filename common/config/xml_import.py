"""Convert a glideinWMS factory XML config (`glideinWMS.xml`) into our factory YAML.

What maps where (every other attribute, and every other non-empty element, is listed on stderr
with its file and line: nothing is dropped silently):

* `<glidein factory_name glidein_name factory_collector loop_delay entry_parallel_workers
  schedd_name>` -> `name`, `glidein_name`, `collectors`, `loop.interval`, `loop.workers`, and the
  first schedd as `submitter.schedd` of every entry (`entry_parallel_workers="0"`, sequential in
  glideinWMS, becomes `workers: 1`).
* `<stage base_dir web_base_url>` -> `staging`; `<submit base_dir>` -> `state_dir` (keys go to
  `<state_dir>/keys/`); `<security reuse_oldkey_onstartup_gracetime>` -> key rotation grace.
* `<security><frontends><frontend name identity><security_classes><security_class name username>`
  -> `frontends` (glideinWMS has no request-signing keys: add `signing_keys` by hand).
* `<attrs><attr name value type const publish parameter glidein_publish job_publish>` -> `attrs`
  (factory level, entry level, entry-set level).
* `<entry name gatekeeper gridtype auth_method enabled trust_domain schedd_name>` -> an `htcondor`
  entry whose `grid_resource` is `"<gridtype> <gatekeeper>"` (trust_domain -> attr
  GLIDEIN_TrustDomain; schedd_name overrides the factory's first schedd).
* `<config>`: `<max_jobs><per_entry|default_per_frontend|per_frontends>` -> `limits`,
  `<stale_age>`, `<release max_per_cycle>` -> `held`, `<remove max_per_cycle>` -> `removal`,
  `<submit cluster_size max_per_cycle sleep>` -> `limits` (rate = cluster_size / sleep),
  `<submit_attrs><submit_attr name value>` -> `submitter.submit_attrs`.
* `<allow_frontends><allow_frontend name security_class>` -> `allow_frontends`.
* `<files><file absfname executable|untar|type period>` run at setup (global and per entry) ->
  `staging.files` / `entries[].files` as exec, source or untar files (`<untar_options dir>` ->
  `untar_dir`); data files and wrappers are listed as not mapped.
* `<entry_sets><entry_set alias|name>` -> `entry_sets`; the set's `<config>` applies to each member.
* `config.d/*.xml` beside the main file (sorted, as glideinWMS merges them): their entries and
  entry sets are added (`glidein config import-xml --no-config-d` skips them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glidein.common.config.xml_tree import Node, parse_xml, unused
from glidein.common.errors import ConfigError

Data = dict[str, Any]
_DEFAULT_COLLECTOR = "127.0.0.1:9618"
_DEFAULT_STATE = "/var/lib/glidein/factory"


@dataclass
class ImportResult:
    """The converted config (plain data), what could not be mapped, and notes for the operator."""

    data: Data
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        header = (
            "# Converted from glideinWMS XML by `glidein config import-xml`; check: `glidein config check`\n"
        )
        body = yaml.dump(
            self.data, Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False, width=100
        )
        return header + body


class _NoAliasDumper(yaml.SafeDumper):
    """Entry-set members share their set's limits; write them out in full, not as YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def import_xml(data: bytes, source: str, fragments: Sequence[tuple[bytes, str]] = ()) -> ImportResult:
    """Convert a glideinWMS factory config; `fragments` are its `config.d/*.xml` files, in order.

    Like glideinWMS, the entries and entry sets of each fragment are added to the main file's.
    """
    root = _glidein_root(data, source)
    result = ImportResult(data={})
    context = _convert(root, result)
    trees = [root]
    for fragment_data, fragment_source in fragments:
        fragment = _glidein_root(fragment_data, fragment_source)
        _add_entries(fragment, context, result.data)
        result.notes.append(f"merged entries of {fragment_source}")
        trees.append(fragment)
    result.unmapped = [line for tree in trees for line in unused(tree)]
    return result


def config_d_files(main: Path) -> list[Path]:
    """The `config.d/*.xml` fragments beside a main glideinWMS.xml, in the order glideinWMS merges them."""
    folder = main.parent / "config.d"
    return sorted(folder.glob("*.xml")) if folder.is_dir() else []


def _glidein_root(data: bytes, source: str) -> Node:
    root = parse_xml(data, source)
    if root.tag != "glidein":
        raise ConfigError(f"{source}:{root.line}: expected a <glidein> factory config, found <{root.tag}>")
    return root


def _convert(root: Node, result: ImportResult) -> _EntryContext:
    out = result.data
    out["name"] = root.take("factory_name") or _note(result, "no factory_name: using 'factory'", "factory")
    out["glidein_name"] = root.take("glidein_name", "glidein")
    collector = root.take("factory_collector")
    if collector is None:
        _note(result, f"no factory_collector: using {_DEFAULT_COLLECTOR}", None)
    out["collectors"] = [
        part.strip() for part in (collector or _DEFAULT_COLLECTOR).split(",") if part.strip()
    ]
    submit = root.child("submit")
    state_dir = (submit.take("base_dir") if submit is not None else None) or _DEFAULT_STATE
    out["state_dir"] = state_dir
    workers = root.take_int("entry_parallel_workers")
    if workers == 0:  # glideinWMS: 0 = entries worked one after the other; ours: 0 = one per CPU
        workers = 1
    loop = _drop_none({"interval": root.take_int("loop_delay"), "workers": workers})
    if loop:
        out["loop"] = loop
    out["staging"] = _staging(root.child("stage"), state_dir)
    files = _files(root.child("files"))
    if files:
        out["staging"]["files"] = files
    out["security"] = _security(root.child("security"), state_dir)
    out["frontends"] = _frontends(root.path("security", "frontends"), result)
    attrs = _attrs(root.child("attrs"))
    if attrs:
        out["attrs"] = attrs
    schedds = [s.strip() for s in (root.take("schedd_name") or "").split(",") if s.strip()]
    context = _EntryContext(schedd=schedds[0] if schedds else None)
    _add_entries(root, context, out)
    return context


def _add_entries(root: Node, context: _EntryContext, out: Data) -> None:
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


def _note(result: ImportResult, text: str, value: Any) -> Any:
    result.notes.append(text)
    return value


def _drop_none(data: Data) -> Data:
    return {key: value for key, value in data.items() if value is not None}


def _staging(stage: Node | None, state_dir: str) -> Data:
    if stage is None:
        return {"dir": f"{state_dir}/stage", "url": "http://127.0.0.1:8319/stage"}
    return {
        "dir": stage.take("base_dir") or f"{state_dir}/stage",
        "url": stage.take("web_base_url") or "http://127.0.0.1:8319/stage",
    }


def _security(security: Node | None, state_dir: str) -> Data:
    out: Data = {
        "signing_key": f"{state_dir}/keys/factory_signing.key",
        "encryption_key": f"{state_dir}/keys/factory_box.key",
    }
    grace = security.take_int("reuse_oldkey_onstartup_gracetime") if security is not None else None
    if grace is not None:
        out["key_rotation"] = {"grace": grace}
    return out


def _frontends(frontends: Node | None, result: ImportResult) -> list[Data]:
    found: list[Data] = []
    for index, node in enumerate(frontends.children_named("frontend") if frontends else []):
        classes = [
            _drop_none({"name": sc.take("name"), "username": sc.take("username")})
            for sc in _grand(node, "security_classes", "security_class")
        ]
        found.append(
            {"name": node.take("name"), "identity": node.take("identity"), "security_classes": classes}
        )
        result.notes.append(
            f"frontends[{index}].signing_keys: add the Ed25519 public key of {node.attrs.get('name')!r}"
        )
    return found


_ATTR_FLAGS = ("publish", "parameter", "glidein_publish", "job_publish", "const")


def _attrs(attrs: Node | None) -> Data:
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
class _EntryContext:
    schedd: str | None


def _entry(node: Node, context: _EntryContext, inherited: _Config) -> Data:
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
    attrs = _attrs(node.child("attrs"))
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
    files = _files(node.child("files"))
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
        for attr in _grand(submit, "submit_attrs", "submit_attr"):
            result.submit_attrs[attr.take("name") or ""] = attr.take("value", "") or ""
    if limits:
        out["limits"] = limits
    stale = config.child("stale_age")
    if stale is not None:
        out["stale_age"] = _drop_none({k: stale.take_int(k) for k in ("idle", "running", "unclaimed")})
    release = config.child("release")
    if release is not None:
        out["held"] = _drop_none({"max_per_cycle": release.take_int("max_per_cycle")})
    remove = config.child("remove")
    if remove is not None:
        out["removal"] = _drop_none({"max_per_cycle": remove.take_int("max_per_cycle")})
    result.data = {key: value for key, value in out.items() if value}
    return result


def _grand(node: Node, middle: str, tag: str) -> list[Node]:
    inner = node.child(middle)
    return inner.children_named(tag) if inner is not None else []


def _job_limits(node: Node) -> Data:
    return _drop_none(
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
        n.take("name") or "": _job_limits(n) for n in _grand(max_jobs, "per_frontends", "per_frontend")
    }
    if per_frontend:
        out["per_frontend"] = per_frontend
    return out


def _submit_limits(submit: Node) -> Data:
    cluster = submit.take_int("cluster_size")
    sleep = submit.take_float("sleep")
    out = _drop_none({"max_per_cycle": submit.take_int("max_per_cycle"), "batch_size": cluster})
    if sleep is not None and sleep > 0:
        out["submit_rate"] = round((cluster or 1) / sleep, 3)
    return out


def _allow(allow: Node | None) -> list[Data]:
    return [
        _drop_none({"frontend": n.take("name"), "security_class": n.take("security_class")})
        for n in (allow.children_named("allow_frontend") if allow else [])
    ]


def _entry_set(node: Node, context: _EntryContext) -> Data:
    out: Data = {"name": node.take("alias") or node.take("name")}  # glideinWMS names sets by alias
    enabled = node.take_bool("enabled")
    if enabled is not None:
        out["enabled"] = enabled
    attrs = _attrs(node.child("attrs"))
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


def _files(files: Node | None) -> list[Data]:
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
