"""glideinWMS `gridtype`, `gatekeeper`, `rsl` and `<submit_attrs>` -> our `htcondor` submitter.

What glideinWMS submits per grid type (its factory's submit-file code), and what we do with it:

* `condor` (HTCondor-CE), `arc` (ARC-CE REST), `batch <system>` (the blahp): `grid_resource` is
  `"<gridtype> <gatekeeper>"` and every `<submit_attr>` goes into the submit description as it is
  (`+xcount`, `+maxMemory`, `+maxWallTime`, `+queue` for a CE's job router; `request_cpus`,
  `request_memory`, `batch_queue`, `arc_resources`, `arc_rte` for ARC). We do the same. The `rsl`
  has no meaning for these types: glideinWMS does not submit it, and neither do we (counted).
* `nordugrid` (ARC's gridftp interface): glideinWMS submits the `rsl` as `nordugrid_rsl`. HTCondor
  23 dropped that grid type (ARC 7 dropped the interface), so the entry becomes an `arc` entry of
  the same CE and its xRSL becomes the ARC submit commands: `queue` -> `batch_queue`, `count` ->
  `request_cpus`, `memory` (MB a core) -> `request_memory`, `runtimeenvironment` -> `arc_rte`,
  `walltime` (xRSL minutes) and `countpernode` -> `arc_resources` (ADL `WallTime` in seconds,
  `SlotsPerHost`). Other xRSL terms (`jobtype`) have no ARC REST meaning and are counted.
* Any other type (`cream`, `gt2`, `gt5`, `ec2`, `gce`): kept as written; `glidein config check`
  rejects such an entry when enabled and warns when disabled. Their `rsl` is not kept.
* A `<submit_attr>` of an entry whose type is not condor, arc, batch, ec2 or gce is submitted by
  glideinWMS only with `all_grid_types="True"`: we keep what glideinWMS would submit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from glidein.common.config.xml_notes import Tally
from glidein.common.config.xml_tree import Node

Data = dict[str, object]
SUBMIT_ATTR_TYPES = ("condor", "arc", "batch", "ec2", "gce")  # glideinWMS passes their submit_attrs
_RSL_TERM = re.compile(r"\(\s*([A-Za-z_]+)\s*=\s*\"?([^)\"]*)\"?\s*\)")
_RSL_TO_ARC = {"queue": "batch_queue", "count": "request_cpus", "memory": "request_memory"}


@dataclass(frozen=True)
class SubmitAttr:
    name: str
    value: str
    every_type: bool  # all_grid_types="True"
    where: str


@dataclass(frozen=True)
class Grid:
    kind: str  # glideinWMS's grid type (`nordugrid` for an entry that became `arc`)
    submitter: Data
    rsl_attrs: dict[str, str]  # submit commands translated from the rsl


def grid_submitter(node: Node, tally: Tally) -> Grid:
    """The entry's grid type, submitter data and translated rsl, from its `<entry>` node."""
    gridtype = " ".join((node.take("gridtype", "condor") or "condor").split())
    gatekeeper = (node.take("gatekeeper") or "").strip()
    rsl = (node.take("rsl") or "").strip()
    kind = gridtype.split(" ", 1)[0].lower()
    where = node.where()
    if kind == "nordugrid":
        tally.add(
            "gridtype nordugrid: became an arc entry of the same CE (no nordugrid in HTCondor 23+)", where
        )
        submitter: Data = {"type": "htcondor", "grid_resource": f"arc {gatekeeper}".strip()}
        return Grid(kind, submitter, rsl_to_arc(rsl, where, tally))
    if rsl and kind in ("condor", "arc", "batch"):
        tally.add(f"rsl: no meaning for gridtype {kind} (glideinWMS does not submit it either)", where)
    elif rsl:
        tally.add(f"rsl of a gridtype not supported here ({kind}): not kept", where)
    return Grid(kind, {"type": "htcondor", "grid_resource": f"{gridtype} {gatekeeper}".strip()}, {})


def rsl_to_arc(rsl: str, where: str, tally: Tally) -> dict[str, str]:
    """An xRSL (`(queue=grid)(count=8)(memory=2000)`) -> the ARC REST submit commands."""
    out: dict[str, str] = {}
    rtes: list[str] = []
    resources = ""
    for name, value in _RSL_TERM.findall(rsl):
        key, text = name.lower(), value.strip()
        if key in _RSL_TO_ARC:
            out[_RSL_TO_ARC[key]] = text
        elif key == "runtimeenvironment":
            rtes.append(text)
        elif key == "walltime" and text.isdigit():
            resources += f"<WallTime>{int(text) * 60}</WallTime>"
        elif key == "countpernode" and text.isdigit():
            resources += f"<SlotRequirement><SlotsPerHost>{text}</SlotsPerHost></SlotRequirement>"
        else:
            tally.add(f"rsl term {key}: no meaning for ARC REST (not kept)", where)
    if rtes:
        out["arc_rte"] = ",".join(rtes)
    if resources:
        out["arc_resources"] = resources
    return out


def read_submit_attrs(submit: Node) -> list[SubmitAttr]:
    """`<submit><submit_attrs><submit_attr name value all_grid_types>` of an entry or entry set."""
    inner = submit.child("submit_attrs")
    found = []
    for attr in inner.children_named("submit_attr") if inner is not None else []:
        every_type = (attr.take("all_grid_types") or "False").strip().lower() == "true"
        name, value = attr.take("name") or "", attr.take("value", "") or ""
        found.append(SubmitAttr(name, value, every_type, attr.where()))
    return found


def for_grid_type(attrs: list[SubmitAttr], kind: str, tally: Tally) -> dict[str, str]:
    """The submit attrs glideinWMS would submit for an entry of grid type `kind`."""
    out: dict[str, str] = {}
    for attr in attrs:
        if kind in SUBMIT_ATTR_TYPES or attr.every_type:
            out[attr.name] = attr.value
        else:
            msg = f"submit_attr of a {kind} entry without all_grid_types (glideinWMS skips it)"
            tally.add(msg, attr.where)
    return out
