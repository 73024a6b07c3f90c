"""Files staged for pilots (factory main and entry levels, frontend client and group levels).

The pilot runs the files of all levels by `order` (ties: main, entry, client, group); see
factory/staging.py for what each `kind` means to the pilot.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from glidein.common.config.base import ConfigPath, Seconds, StrictModel

FileKind = Literal["exec", "source", "config", "untar", "startd_bundle"]


class StagedFile(StrictModel):
    """One file staged for pilots."""

    path: ConfigPath = Field(description="The file on the factory host (relative: to the config file).")
    kind: FileKind = Field(default="exec", description="exec, source, config, untar or startd_bundle.")
    order: int = Field(default=50, description="Run order across all levels (lower first).")
    period: Seconds = Field(default=0, description="Re-run every this many seconds (0 = once).")
    timeout: Seconds = Field(default=600, description="Seconds the pilot lets it run.")
    untar_dir: str | None = Field(default=None, description="Directory an `untar` file unpacks into.")
