"""The factory's side of network closeness: each entry publishes its row of the bandwidth matrix.

`MatrixSource` reads the matrix (file or URL, `closeness.matrix`) at most every `refresh` seconds
and keeps the last good one when a read fails (one warning per failure). `with_bandwidths` gives
each entry the attributes `GLIDEIN_BW_<SE>` (MB/s) of its row: published in its glidefactory ad
and passed to its pilots, whose startd puts them in the slot ad (`GLIDEIN_Startd_Attrs`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from glidein.common.closeness import Matrix, load_matrix, se_attr
from glidein.common.config.attrs import Attr
from glidein.common.errors import ConfigError

log = logging.getLogger(__name__)
STARTD_ATTRS = "GLIDEIN_Startd_Attrs"


class MatrixSource:
    """The current matrix of `cfg` (a `common.config.closeness.Closeness`), re-read when due."""

    def __init__(
        self,
        cfg: Any,
        clock: Callable[[], float] = time.time,
        load: Callable[[str, float], Matrix] = load_matrix,
    ) -> None:
        self.cfg, self.clock, self.load = cfg, clock, load
        self.matrix: Matrix | None = None
        self.next_read = 0.0

    def current(self) -> Matrix | None:
        now = self.clock()
        if now < self.next_read:
            return self.matrix
        self.next_read = now + self.cfg.refresh
        try:
            matrix = self.load(self.cfg.matrix, float(self.cfg.timeout))
        except ConfigError as exc:
            kept = "keeping the last one read" if self.matrix is not None else "no bandwidths published"
            log.warning("closeness matrix unreadable (%s): %s", kept, exc)
            return self.matrix
        if matrix != self.matrix:
            log.info("closeness matrix=%s sources=%d", self.cfg.matrix, len(matrix.rows))
        self.matrix = matrix
        return matrix


def entry_sources(entry: Any) -> list[str]:
    """Where the entry's row may be, most specific first: name, gatekeeper, its host, GLIDEIN_Site."""
    gatekeeper = str(getattr(entry, "gatekeeper", ""))
    host = re.split(r"[/: ]", gatekeeper.rsplit("://", maxsplit=1)[-1], maxsplit=1)[0]
    site = getattr(entry, "attrs", {}).get("GLIDEIN_Site")
    names = [str(entry.name), gatekeeper, host, str(site.value) if site is not None else ""]
    return [name for name in names if name]


def with_bandwidths(entries: Sequence[Any], matrix: Matrix | None) -> list[Any]:
    """Copies of the entries (pydantic `Entry`) with their row's `GLIDEIN_BW_<SE>` attributes."""
    if matrix is None:
        return list(entries)
    return [_with_row(entry, matrix.bandwidths(entry_sources(entry))) for entry in entries]


def _with_row(entry: Any, row: dict[str, float]) -> Any:
    if not row:
        return entry
    attrs = dict(entry.attrs)
    names = sorted(se_attr(se) for se in row)
    for se, mbps in row.items():
        attrs[se_attr(se)] = Attr(value=f"{mbps:g}", type="expr")
    listed = attrs.get(STARTD_ATTRS)
    before = [n.strip() for n in str(listed.value).split(",") if n.strip()] if listed else []
    value = ",".join([*before, *(n for n in names if n not in before)])
    attrs[STARTD_ATTRS] = Attr(value=value, publish=False)
    copy = entry.model_copy(update={"attrs": attrs})
    copy._entry_set = getattr(entry, "_entry_set", None)
    return copy
