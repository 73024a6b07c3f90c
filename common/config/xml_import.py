"""Convert a glideinWMS factory XML config (`glideinWMS.xml` and `config.d/`) into our factory YAML.

`glidein config import-xml glideinWMS.xml -o factory.yaml` reads the main file and the
`config.d/*.xml` beside it (sorted, as glideinWMS merges them: an entry or entry set named again in
a later file replaces the earlier one); `import-xml DIR` reads a directory of config.d files
without their main file (a public factory repository): the factory-level settings are then
defaults to edit. Frontends that entries name (per-frontend limits, allow lists) but nothing
declares are declared with a placeholder identity. The output leaves out what equals our
defaults and writes the flags most attrs of a name share once, in `attr_flags` (an entry then says
`GLIDEIN_Site: Louvain`). The import ends by validating the result as `glidein config check` does.

What each glideinWMS factory element becomes:

* `<glidein factory_name glidein_name factory_collector loop_delay entry_parallel_workers
  schedd_name>` -> `name`, `glidein_name`, `collectors`, `loop.interval`, `loop.workers`, and the
  first schedd as `submitter.schedd` of every entry (`entry_parallel_workers="0"`, sequential in
  glideinWMS, becomes `workers: 1`).
* `<stage base_dir web_base_url>` -> `staging`; `<submit base_dir>` -> `state_dir` (keys go to
  `<state_dir>/keys/`); `<security reuse_oldkey_onstartup_gracetime>` -> key rotation grace.
* `<security><frontends><frontend name identity><security_classes><security_class name username>`
  -> `frontends` (glideinWMS has no request-signing keys: add `signing_keys` by hand).
* `<attrs><attr name value type const publish parameter glidein_publish job_publish comment>` ->
  `attrs` (factory, entry and entry-set level). `type="expr"` is an HTCondor config value the
  pilot writes into its startd's config (`$(STARTD_DEBUG) D_SECURITY`, `172.18.*`): it becomes
  `type: config`, checked as one (one line, macros closed), published as text as glideinWMS does;
  our `type: expr` is a ClassAd expression. An attr's `comment` goes to the entry's `comment`.
* `<entry name gatekeeper gridtype rsl auth_method enabled trust_domain schedd_name>` -> an
  `htcondor` entry (trust_domain -> attr GLIDEIN_TrustDomain; schedd_name overrides the factory's
  first schedd); `gridtype`, `gatekeeper` and `rsl` as in "Grid types" below.
* `<entry verbosity work_dir proxy_url comment>` -> `pilot.verbosity` (`-v`), `pilot.work_dir`
  (`-dir`; the pilot knows `OSG`, `Condor`, `AUTO`, `TMPDIR`), `pilot.proxy_url`
  (GLIDEIN_Proxy_URL), `comment`. `vm_id`, `vm_type` (ec2, not supported) are listed as not mapped.
* `<config>`: `<max_jobs num_factories><per_entry|default_per_frontend|per_frontends>` ->
  `limits` (each divided by num_factories, as glideinWMS does), `<stale_age>`,
  `<release max_per_cycle>` -> `held`, `<remove max_per_cycle>` -> `removal` (their `sleep`,
  a pause between single condor_release/condor_rm calls, has no meaning here: one schedd call a
  cycle), `<submit cluster_size max_per_cycle sleep>` -> `limits` (rate = cluster_size / sleep),
  `<submit slots_layout>` -> `pilot.slots_layout` (GLIDEIN_SLOTS_LAYOUT),
  `<submit_attrs><submit_attr name value all_grid_types>` -> `submitter.submit_attrs` (as
  glideinWMS submits them for the grid type), `<restrictions>` (see below).
* `<allow_frontends><allow_frontend name security_class>` -> `allow_frontends`.
* `<infosys_refs><infosys_ref type server ref>` -> `infosys_refs`;
  `<monitorgroups><monitorgroup group_name>` -> `monitor_groups`.
* `<files><file absfname executable|untar|type period>` run at setup (global and per entry) ->
  `staging.files` / `entries[].files` as exec, source or untar files (`<untar_options dir>` ->
  `untar_dir`); data files and wrappers are listed as not mapped.
* `<entry_sets><entry_set alias|name>` -> `entry_sets`; the set's `<config>` applies to each member.

What has no meaning here, or is changed, is reported once per kind with a count and the first
place (`<release> sleep: no meaning here ... (1058 times; first at 10-cms.xml:11)`); every other
attribute or non-empty element the import does not read is listed as not mapped, the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glidein.common.config import yaml_out
from glidein.common.config.xml_compact import compact
from glidein.common.config.xml_entries import (
    Data,
    EntryContext,
    add_entries,
    attrs_of,
    drop_none,
    files_of,
    grand,
)
from glidein.common.config.xml_notes import summarize
from glidein.common.config.xml_tree import Node, parse_xml, unused_by_kind
from glidein.common.errors import ConfigError

_DEFAULT_COLLECTOR = "127.0.0.1:9618"
_DEFAULT_STATE = "/var/lib/glidein/factory"


@dataclass
class ImportResult:
    """The converted config (plain data), what could not be mapped, and notes for the operator."""

    data: Data
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unmapped_summary: list[str] = field(default_factory=list)  # one line per kind, counted
    dropped: list[str] = field(default_factory=list)  # no meaning here / changed, one line per kind

    def to_yaml(self) -> str:
        header = (
            "# Converted from glideinWMS XML by `glidein config import-xml`; check: `glidein config check`\n"
        )
        return header + yaml_out.dump(self.data)


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
        add_entries(fragment, context, result.data)
        trees.append(fragment)
    if fragments:
        result.notes.append(f"merged the entries of {len(fragments)} config.d file(s)")
    _declare_referenced_frontends(result)
    compact(result.data, _all_entries(result.data))
    pairs = [pair for tree in trees for pair in unused_by_kind(tree)]
    result.unmapped = [line for _, line in pairs]
    result.unmapped_summary = summarize(pairs)
    result.dropped = context.tally.lines()
    return result


def import_fragments(fragments: Sequence[tuple[bytes, str]]) -> ImportResult:
    """Convert `config.d` files without their main glideinWMS.xml (as a public config repository
    holds them): the factory-level settings are defaults, to be edited (noted)."""
    if not fragments:
        raise ConfigError("no glideinWMS XML files to import")
    main = b'<glidein factory_name="factory"/>'
    result = import_xml(main, "(no main glideinWMS.xml)", fragments)
    result.notes.insert(0, "no main glideinWMS.xml: set name, collectors, state_dir and staging by hand")
    return result


def xml_kind(data: bytes, source: str) -> str:
    """`factory` (root `<glidein>`) or `frontend` (root `<frontend>`); ConfigError otherwise."""
    root = parse_xml(data, source)
    kinds = {"glidein": "factory", "frontend": "frontend"}
    if root.tag not in kinds:
        raise ConfigError(
            f"{source}:{root.line}: <{root.tag}> is neither a glideinWMS factory nor frontend config"
        )
    return kinds[root.tag]


def config_d_files(main: Path) -> list[Path]:
    """The `config.d/*.xml` fragments beside a main glideinWMS.xml, in the order glideinWMS merges them."""
    folder = main.parent / "config.d"
    return sorted(folder.glob("*.xml")) if folder.is_dir() else []


def _glidein_root(data: bytes, source: str) -> Node:
    root = parse_xml(data, source)
    if root.tag != "glidein":
        raise ConfigError(f"{source}:{root.line}: expected a <glidein> factory config, found <{root.tag}>")
    return root


def _convert(root: Node, result: ImportResult) -> EntryContext:
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
    loop = drop_none({"interval": root.take_int("loop_delay"), "workers": workers})
    if loop:
        out["loop"] = loop
    out["staging"] = _staging(root.child("stage"), state_dir)
    files = files_of(root.child("files"))
    if files:
        out["staging"]["files"] = files
    out["security"] = _security(root.child("security"), state_dir)
    out["frontends"] = _frontends(root.path("security", "frontends"), result)
    attrs = attrs_of(root.child("attrs"))
    if attrs:
        out["attrs"] = attrs
    schedds = [s.strip() for s in (root.take("schedd_name") or "").split(",") if s.strip()]
    context = EntryContext(schedd=schedds[0] if schedds else None)
    add_entries(root, context, out)
    return context


def _declare_referenced_frontends(result: ImportResult) -> None:
    """Frontends (and classes) the entries name but no `<security><frontends>` declares: declared,
    with a placeholder identity to fill in (the entries' limits and allow lists keep working)."""
    declared = {fe["name"] for fe in result.data.get("frontends", [])}
    wanted: dict[str, set[str]] = {}
    for entry in _all_entries(result.data):
        keys = list(entry.get("limits", {}).get("per_frontend", {}))
        keys += [
            f"{a['frontend']}:{a.get('security_class', 'All')}" for a in entry.get("allow_frontends", [])
        ]
        for key in keys:
            name, _, sec_class = key.partition(":")
            if name and name not in declared:
                wanted.setdefault(name, set()).update({sec_class} - {"", "All"})
    for name, classes in sorted(wanted.items()):
        security_classes = [{"name": c} for c in sorted(classes)] or [{"name": "frontend"}]
        identity = f"{name}@frontend.invalid"
        result.data.setdefault("frontends", []).append(
            {"name": name, "identity": identity, "security_classes": security_classes}
        )
        result.notes.append(
            f"frontend {name!r}: named by entries, not declared: set its identity ({identity})"
        )


def _all_entries(data: Data) -> list[Data]:
    entries: list[Data] = list(data.get("entries", []))
    for entry_set in data.get("entry_sets", []):
        entries += entry_set.get("entries", [])
    return entries


def _note(result: ImportResult, text: str, value: Any) -> Any:
    result.notes.append(text)
    return value


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
            drop_none({"name": sc.take("name"), "username": sc.take("username")})
            for sc in grand(node, "security_classes", "security_class")
        ]
        found.append(
            {"name": node.take("name"), "identity": node.take("identity"), "security_classes": classes}
        )
        result.notes.append(
            f"frontends[{index}].signing_keys: add the Ed25519 public key of {node.attrs.get('name')!r}"
        )
    return found
