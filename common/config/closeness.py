"""Factory config: where the network-closeness matrix is (`closeness`, docs/CLOSENESS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo

from glidein.common.config.base import PosInt, StrictModel


def _file_or_url(value: str, info: ValidationInfo) -> str:
    """A URL as is; a relative file path resolved against the config file's directory."""
    if value.startswith(("http://", "https://")):
        return value
    if "://" in value:
        raise ValueError(f"{value!r}: only a file path or an http(s):// URL")
    path = Path(value).expanduser()
    base = (info.context or {}).get("base_dir")
    return str(Path(base) / path if not path.is_absolute() and base is not None else path)


class Closeness(StrictModel):
    """The bandwidth matrix (CE, entry or site -> SE, MB/s) whose row each entry publishes."""

    matrix: Annotated[str, AfterValidator(_file_or_url)] = Field(
        min_length=1,
        description="A YAML/JSON file (relative to the config file's directory) or an http(s):// URL:"
        " `{source: {SE: MB/s}}`, source = entry name, gatekeeper, gatekeeper host or GLIDEIN_Site.",
    )
    refresh: PosInt = Field(default=600, description="Seconds between reads of the matrix.")
    timeout: PosInt = Field(default=30, description="Seconds to wait for a matrix URL.")
