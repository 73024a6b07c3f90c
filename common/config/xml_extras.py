"""glideinWMS entry attributes about how pilots run, and what operators keep beside an entry.

Part of `glidein config import-xml`:

* `verbosity` -> `pilot.verbosity`; `work_dir` -> `pilot.work_dir` (the pilot knows glideinWMS's
  keywords `OSG`, `Condor`, `AUTO`, `TMPDIR`); `proxy_url` -> `pilot.proxy_url` (`None` = none).
* `comment` (of an entry, entry set, `<attr>`, `<submit>`, `<per_entry>`...) -> the entry's
  `comment`, each prefixed with where it came from.
* `<infosys_refs><infosys_ref type server ref>` -> `infosys_refs`;
  `<monitorgroups><monitorgroup group_name>` -> `monitor_groups`.
* `<restrictions require_voms_proxy require_glidein_glexec_use>`: `False` is what this factory
  does anyway (it submits with tokens, never a VOMS proxy, and runs no glexec); `True` cannot be
  honoured and is counted.
"""

from __future__ import annotations

from glidein.common.config.xml_notes import Tally
from glidein.common.config.xml_tree import Node

Data = dict[str, object]
_WORK_DIRS = {"osg": "OSG", "condor": "Condor", "auto": "AUTO", "tmpdir": "TMPDIR"}
_VERBOSITY = ("std", "nodebug", "fast")


def comment_of(node: Node) -> str:
    return " ".join((node.take("comment") or "").split())


def entry_extras(node: Node, tally: Tally) -> tuple[Data, Data]:
    """(`pilot` settings, `infosys_refs` and `monitor_groups`) of one `<entry>`."""
    out: Data = {}
    pilot: Data = {}
    verbosity = (node.take("verbosity") or "").strip().lower()
    if verbosity in _VERBOSITY:
        pilot["verbosity"] = verbosity
    elif verbosity:
        tally.add(f"verbosity {verbosity!r}: not a pilot verbosity (std kept)", node.where())
    work_dir = (node.take("work_dir") or "").strip()
    if work_dir:
        pilot["work_dir"] = _WORK_DIRS.get(work_dir.lower(), work_dir)
    proxy = (node.take("proxy_url") or "").strip()
    if proxy and proxy.lower() != "none":
        pilot["proxy_url"] = proxy
    refs = node.child("infosys_refs")
    infosys = [
        {"type": ref.take("type") or "", "server": ref.take("server") or "", "ref": ref.take("ref") or ""}
        for ref in (refs.children_named("infosys_ref") if refs is not None else [])
    ]
    if infosys:
        out["infosys_refs"] = infosys
    groups = node.child("monitorgroups")
    names = [
        g.take("group_name") or ""
        for g in (groups.children_named("monitorgroup") if groups is not None else [])
    ]
    if names:
        out["monitor_groups"] = names
    return pilot, out


def restrictions(config: Node, tally: Tally) -> None:
    """`<restrictions>`: False is this factory's way anyway; True is counted (cannot be honoured)."""
    node = config.child("restrictions")
    if node is None:
        return
    for name in ("require_voms_proxy", "require_glidein_glexec_use"):
        if node.take_bool(name):
            tally.add(
                f"restrictions {name}=True: cannot be honoured (tokens, no proxies, no glexec)", node.where()
            )
