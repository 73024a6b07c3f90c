"""Convert a glideinWMS frontend XML config (`frontend.xml`) into our frontend YAML.

What maps where (anything else is listed once per kind, with a count and its first line):

* `<frontend frontend_name loop_delay>` -> `name` (`<security security_name>` wins: the factory
  knows the frontend by it), `loop.interval`; `<work base_dir>` -> `state_dir` (keys go to
  `<state_dir>/keys/`); `<monitor base_dir>` -> `monitoring.dir`.
* `<collectors><collector node secondary="False">` (the user pool) -> `collectors.user_pool`;
  secondary collectors (the pilots' port ranges) have no place: pilots report to the first one.
* `<match><factory><collectors><collector node my_identity factory_identity>` (frontend and groups)
  -> `collectors.wms`, `security.identity` (my_identity) and one `security.trusted_factories` per
  factory_identity, named after its user. glideinWMS has no factory signing keys: each gets the
  placeholder `NO/KEY/IN/glideinWMS/PUT/FactorySigningKeyA=` (not a point of the curve: nothing
  verifies with it) until you put the factory's `FactorySigningKey` there.
* `<match><job><schedds><schedd fullname>` (frontend and groups) -> `schedds` (HTCondor schedds,
  `discover_schedds: false`; no schedd listed: `discover_schedds: true`).
* `<config><idle_vms_total|running_glideins_total max curb>` -> `limits`; `ramp_up_attenuation`
  -> every group's `limits.ramp_up_attenuation` unless the group sets its own.
* `<security><credentials><credential name type security_class>` (frontend and groups) ->
  `credentials` (type idtoken -> `idtoken`, others -> `token`: pilots get a token minted with
  `pool_key`, a file to set); `<security idtoken_lifetime>` (hours) -> `lifetime`. A group with
  credentials of its own uses them and the frontend's.
* `<groups><group name enabled>` -> `groups`:
  - `match_expr` (Python, ANDed with the frontend's) -> `match_expr`, translated to ClassAd (see
    the `match_expr` section); a form that does not translate stops the import with one line naming the
    file, line, group and expression and what to write instead. A `policy_file` is refused too.
  - `start_expr` (ClassAd, ANDed with the frontend's, and with `GLIDECLIENT_Start` /
    `GLIDECLIENT_Group_Start` attributes) -> `params.GLIDEIN_Start`, the pilots' START expression.
  - `<factory query_expr>` / `<job query_expr>` (ANDed with the frontend's) -> `factory_constraint`
    / `job_constraint`; `match_attrs` are not needed (the attributes an expression references
    are found from the expression).
  - `<config>`: `idle_glideins_per_entry max reserve`, `idle_vms_per_entry max curb`,
    `running_glideins_per_entry max min relative_to_queue`, `idle_vms_total`,
    `running_glideins_total`, `idle_glideins_lifetime max`, `ramp_up_attenuation` -> `limits`;
    `glideins_removal type wait margin` -> `removal.max_level`, `wait_cycles`, `margin`
    (no element: `max_level: NO`, as glideinWMS never removes then).
  - `<attrs><attr name value>` (the frontend's, overridden by the group's) -> `params`;
    `type="expr"` attributes are Python and not mapped.
* `<high_availability enabled="True" check_interval>` -> `high_availability: {role: standby,
  active: <name>, check_interval}`: the standby publishes under the frontend's own name (a note
  when `<ha_frontend frontend_name>` differs). `<files>` have no place here: stage them from the
  factory (`staging.frontend_files`).

After `glidein config import-xml frontend.xml -o frontend.yaml` (it checks the result as
`glidein config check` does), fill in what glideinWMS does not have, as its notes say: each
trusted factory's `FactorySigningKey` and `FactoryName`, and the pool key file of `credentials`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from glidein.common.config.xml_frontend_groups import (
    GroupDefaults,
    Report,
    attr_params,
    convert_group,
    curb_of,
    match_attrs_note,
)
from glidein.common.config.xml_notes import summarize
from glidein.common.config.xml_tree import Node, parse_xml, unused_by_kind
from glidein.common.errors import ConfigError

Data = dict[str, Any]
PLACEHOLDER_KEY = "NO/KEY/IN/glideinWMS/PUT/FactorySigningKeyA="
_DEFAULT_STATE = "/var/lib/glidein/frontend"
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
_MAX_LIFETIME = 7 * 86400
_GROUP_WIDE = "{what} of a group serves every group here ({key} is frontend-wide; narrow with constraints)"


class FrontendImportRefused(ConfigError):
    """Expressions that do not translate; `lines` holds one line each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class FrontendImport:
    """The converted config (plain data) and what the operator must know, as `import_xml`'s result:
    `unmapped_summary` (elements and attributes with no place, per kind), `dropped` (changed or
    left out, per kind) and `notes` (what to fill in)."""

    data: Data
    unmapped_summary: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        header = "# Converted from glideinWMS frontend XML by `glidein config import-xml`; "
        header += "check: `glidein config check`\n"
        return header + yaml.dump(
            self.data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100
        )


class _Dumper(yaml.SafeDumper):
    """Groups share the frontend's credential list: write it out in each, not as a YAML alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def import_frontend_xml(data: bytes, source: str) -> FrontendImport:
    """Convert a glideinWMS frontend.xml; FrontendImportRefused lists what does not translate."""
    root = parse_xml(data, source)
    if root.tag != "frontend":
        raise ConfigError(f"{source}:{root.line}: expected a <frontend> config, found <{root.tag}>")
    report = Report()
    out: Data = {}
    notes: list[str] = []
    _top(root, out, notes, report)
    if report.refused:
        raise FrontendImportRefused(report.refused)
    return FrontendImport(out, summarize(unused_by_kind(root)), report.tally.lines(), notes)


def _top(root: Node, out: Data, notes: list[str], report: Report) -> None:
    security = root.child("security")
    frontend_name = root.take("frontend_name")
    name = _take(security, "security_name") or frontend_name or "frontend"
    if frontend_name and name != frontend_name:
        notes.append(
            f"name: security_name {name!r} (the factories know the frontend by it), not {frontend_name!r}"
        )
    out["name"] = _simple(name, "name", notes)
    state_dir = _take(root.child("work"), "base_dir") or _DEFAULT_STATE
    wms, identity, trusted = _factory_collectors(root, notes, report)
    out["collectors"] = {"wms": wms or ["127.0.0.1:9618"], "user_pool": _user_pool(root, notes, report)}
    out["state_dir"] = state_dir
    interval = root.take_int("loop_delay")
    if interval:
        out["loop"] = {"interval": interval}
    out["security"] = {
        "signing_key": f"{state_dir}/keys/frontend_signing.key",
        "identity": identity or f"{out['name']}@localhost",
        "trusted_factories": trusted,
    }
    schedds = _schedds(root, report)
    out["schedds"] = [{"name": s, "type": "htcondor"} for s in schedds]
    out["discover_schedds"] = not schedds
    limits = {
        tag: curb_of(root.path("config", tag), report) for tag in ("idle_vms_total", "running_glideins_total")
    }
    if any(limits.values()):
        out["limits"] = {tag: value for tag, value in limits.items() if value}
    defaults = _defaults(root, report)
    out["credentials"], group_credentials = _credentials(root, state_dir, notes, report)
    out["groups"] = [convert_group(g, defaults, report) for g in _groups(root)]
    for group, names in zip(out["groups"], group_credentials, strict=True):
        group["name"] = _simple(group["name"], "group name", notes)
        if names:
            group["credentials"] = names
    monitor = _take(root.child("monitor"), "base_dir")
    if monitor:
        out["monitoring"] = {"dir": monitor}
    _high_availability(root.child("high_availability"), out, notes)
    _files(root, report)


def _take(node: Node | None, name: str) -> str | None:
    return node.take(name) if node is not None else None


def _simple(name: str, what: str, notes: list[str]) -> str:
    """A name with only letters, digits, `_` and `-` (our names; glideinWMS allows more)."""
    clean = _NAME_BAD.sub("_", name)
    if clean != name:
        notes.append(f"{what} {name!r} written as {clean!r} (letters, digits, '_' and '-' only)")
    return clean


def _host_port(node: Node, address: str, report: Report) -> str:
    """`host`, `host:port` or `host:port?sock=...` -> host:port (9618 by default)."""
    host, _, sock = address.partition("?")
    if sock:
        report.note(
            "collector address ?sock=... (HTCondor shared port) dropped: check the port", node.where()
        )
    host = host.strip()
    return host if re.search(r":\d+$", host) else f"{host}:9618"


def _user_pool(root: Node, notes: list[str], report: Report) -> list[str]:
    primary: list[str] = []
    collectors = root.child("collectors")
    for collector in collectors.children_named("collector") if collectors is not None else []:
        node = collector.take("node") or ""
        collector.take("group")
        if collector.take_bool("secondary"):
            notes.append(
                f"secondary collector {node!r}: no place here (pilots report to collectors.user_pool[0])"
            )
        elif node:
            primary.append(_host_port(collector, node, report))
    if not primary:
        notes.append("no primary user-pool collector: using 127.0.0.1:9618")
    return list(dict.fromkeys(primary)) or ["127.0.0.1:9618"]


def _factory_collectors(
    root: Node, notes: list[str], report: Report
) -> tuple[list[str], str | None, list[Data]]:
    """WMS collectors, our identity there, and the factories trusted (one per factory_identity)."""
    wms: list[str] = []
    identity = None
    trusted: dict[str, Data] = {}
    for match in [root.child("match"), *(g.child("match") for g in _groups(root))]:
        collectors = match.path("factory", "collectors") if match is not None else None
        for collector in collectors.children_named("collector") if collectors is not None else []:
            collector.take("comment")
            if match is not root.child("match"):
                report.note(
                    _GROUP_WIDE.format(what="factory <collector>", key="collectors.wms"), collector.where()
                )
            wms.append(_host_port(collector, collector.take("node") or "127.0.0.1", report))
            identity = identity or collector.take("my_identity")
            collector.take("my_identity")
            factory = collector.take("factory_identity") or "gfactory@localhost"
            name = _NAME_BAD.sub("_", factory.split("@", 1)[0]) or "factory"
            trusted.setdefault(name, {"name": name, "signing_key": PLACEHOLDER_KEY})
    for name in trusted:
        notes.append(
            f"security.trusted_factories {name!r}: put its FactorySigningKey (glideinWMS has none; "
            "the placeholder verifies nothing) and its FactoryName"
        )
    if not trusted:
        notes.append("no factory collector: add security.trusted_factories and collectors.wms")
        trusted["factory"] = {"name": "factory", "signing_key": PLACEHOLDER_KEY}
    return list(dict.fromkeys(wms)), identity, list(trusted.values())


def _schedds(root: Node, report: Report) -> list[str]:
    names: list[str] = []
    for match in [root.child("match"), *(g.child("match") for g in _groups(root))]:
        schedds = match.path("job", "schedds") if match is not None else None
        for schedd in schedds.children_named("schedd") if schedds is not None else []:
            name = schedd.take("fullname")
            if name:
                names.append(name.strip())
            if match is not root.child("match"):
                report.note(_GROUP_WIDE.format(what="<schedd>", key="schedds"), schedd.where())
    return list(dict.fromkeys(names))


def _groups(root: Node) -> list[Node]:
    groups = root.child("groups")
    return groups.children_named("group") if groups is not None else []


def _defaults(root: Node, report: Report) -> GroupDefaults:
    match = root.child("match")
    factory = match.child("factory") if match is not None else None
    job = match.child("job") if match is not None else None
    for part in (factory, job):
        match_attrs_note(part.child("match_attrs") if part is not None else None, report)
    policy = _take(match, "policy_file")
    if match is not None and policy:
        report.refused.append(
            f"{match.where()}: frontend: match policy_file {policy!r} is Python code and not translated: "
            "write its match as each group's `match_expr` in ClassAd"
        )
    params, starts = attr_params(root.child("attrs"), report)
    config = root.child("config")
    return GroupDefaults(
        match_expr=_take(match, "match_expr"),
        start_expr=_take(match, "start_expr"),
        factory_query=_take(factory, "query_expr"),
        job_query=_take(job, "query_expr"),
        params=params,
        start_attrs=starts,
        ramp_up_attenuation=config.take_float("ramp_up_attenuation") if config is not None else None,
    )


def _credentials(
    root: Node, state_dir: str, notes: list[str], report: Report
) -> tuple[list[Data], list[list[str]]]:
    """All credentials, and per group the names it uses ([] when the frontend's are all there is)."""
    maker = _Credentials(f"{state_dir}/keys/pool.key", report)
    frontend = [maker.add(node, "frontend", root.child("security")) for node in _cred_nodes(root)]
    per_group = []
    for group in _groups(root):
        level = f"group_{group.attrs.get('name', '')}"
        own = [maker.add(node, level, group.child("security")) for node in _cred_nodes(group)]
        per_group.append([*frontend, *own] if own else [])
    if not maker.out:
        notes.append("no credential: one pool token credential added")
        maker.out.append({"name": "pool_token", "type": "token", "pool_key": maker.pool_key})
    notes.append(f"credentials[].pool_key: put the pool signing key there (written as {maker.pool_key})")
    if any(per_group):  # then a group without credentials of its own uses the frontend's only
        per_group = [names or frontend for names in per_group]
    return maker.out, per_group


def _cred_nodes(node: Node) -> list[Node]:
    creds = node.path("security", "credentials")
    return creds.children_named("credential") if creds is not None else []


@dataclass
class _Credentials:
    pool_key: str
    report: Report
    out: list[Data] = field(default_factory=list)

    def add(self, node: Node, level: str, security: Node | None) -> str:
        """One `<credential>` as ours; its name (unique) is returned."""
        kind = node.take("type") or "grid_proxy"
        source = node.take("name") or (node.take("absfname") or "credential").rsplit("/", 1)[-1]
        node.take("absfname")
        name = base = _NAME_BAD.sub("_", source) or "credential"
        taken = {c["name"] for c in self.out}
        suffix = 1
        while name in taken:
            suffix += 1
            name = f"{base}_{suffix}"
        cred: Data = {"name": name, "type": "idtoken" if "idtoken" in kind else "token"}
        cred["security_class"] = _NAME_BAD.sub("_", node.take("security_class") or level)
        cred["pool_key"] = self.pool_key
        hours = security.take_float("idtoken_lifetime") if security is not None else None
        if hours and security is not None:
            cred["lifetime"] = min(max(int(hours * 3600), 1), _MAX_LIFETIME)
            if hours * 3600 > _MAX_LIFETIME:
                self.report.note("idtoken_lifetime above 7 days lowered to 7 days", security.where())
        if "idtoken" not in kind:
            self.report.note(
                f"<credential type={kind!r}> has no place here: pilots get a token minted with "
                "credentials[].pool_key",
                node.where(),
            )
        self.out.append(cred)
        return name


def _high_availability(node: Node | None, out: Data, notes: list[str]) -> None:
    """enabled=True (a glideinWMS slave) -> `high_availability: {role: standby, ...}` publishing under
    the frontend's own name, which the active must share (the factories see one client)."""
    if node is None:
        return
    enabled = node.take_bool("enabled")
    interval = node.take_int("check_interval")
    masters = node.child("ha_frontends")
    actives = (
        [m.take("frontend_name") for m in masters.children_named("ha_frontend")]
        if masters is not None
        else []
    )
    if not enabled:
        return
    out["high_availability"] = {"role": "standby", "active": out["name"]}
    if interval:
        out["high_availability"]["check_interval"] = interval
    for active in actives:
        if active and active != out["name"]:
            notes.append(
                f"high_availability: standby of {active!r}, published as {out['name']!r} (its name): give "
                "the active frontend the same name, or the factories see two clients"
            )


def _files(root: Node, report: Report) -> None:
    for owner in [root, *_groups(root)]:
        files = owner.child("files")
        for file in files.children_named("file") if files is not None else []:
            file.used_attrs.update(file.attrs)  # the note below covers the whole element
            report.note(
                "<file> not mapped: stage it from the factory (staging.frontend_files['<frontend>.<group>'])",
                file.where(),
            )
