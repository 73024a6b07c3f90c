"""Schema of `autoconf:` in the factory config: entries generated from an information system.

`glidein factory autoconf` (and the factory itself every `info_refresh` seconds) reads CE queues
from the `sources`, writes them as entries to `entries_file`, and the loader includes that file with
the operator's `overrides_file` merged over each entry (see common/config/includes.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from glidein.common.config.base import ConfigPath, Seconds, StrictModel

SourceType = Literal["glue2", "glue1", "ce_collector"]
DEFAULT_BASES = {"glue2": "o=glue", "glue1": "mds-vo-name=local,o=grid"}


class InfoSource(StrictModel):
    """One information system to read CE queues from."""

    type: SourceType = Field(
        description="`glue2` (a BDII, GLUE 2.0 over LDAP), `glue1` (a BDII, GLUE 1.3 GlueCE objects) or"
        " `ce_collector` (HTCondor-CE ads with `OSG_ResourceCatalog` on a collector)."
    )
    url: str = Field(
        description="`ldap://host:port` of the BDII, or `host:port` of the collector (`ce_collector`)."
    )
    base: str | None = Field(
        default=None, description="LDAP search base; default `o=glue` (glue2) or `mds-vo-name=local,o=grid`."
    )
    vos: list[str] = Field(
        default_factory=list,
        description="Keep only queues that allow one of these VOs (case-insensitive); empty keeps all.",
    )
    timeout: Seconds = Field(default=30, description="Seconds a query may take.")

    @property
    def search_base(self) -> str:
        return self.base or DEFAULT_BASES.get(self.type, "")


class Autoconf(StrictModel):
    """Entries from the information system (`glidein factory autoconf`)."""

    entries_file: ConfigPath = Field(
        description="Generated entries (YAML, `entries:`), rewritten by autoconf and included here."
    )
    overrides_file: ConfigPath | None = Field(
        default=None,
        description="Operator's overrides (YAML mapping entry name -> entry fields), merged over the"
        " generated entries at load time; autoconf never writes it.",
    )
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="Entry fields every generated entry starts from (e.g. `submitter: {schedd: ...}`,"
        " `limits`); the information system's values and then the overrides win over them.",
    )
    sources: list[InfoSource] = Field(default_factory=list, description="Information systems to read.")
    info_refresh: Seconds = Field(
        default=0, description="The factory re-reads the sources every this many seconds (0 = never)."
    )
