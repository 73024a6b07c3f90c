"""The `monitoring` section shared by the factory and frontend schemas (RRD files and snapshot).

Both daemons record one row per cycle with `glidein.common.monitoring.recorder.Monitor` into
`dir` (default `<state_dir>/monitor`); `glidein monitor web --root DIR --kind factory|frontend`
serves it. The RRD step should be close to the cycle interval: a cycle that does not come
within two steps leaves a gap in the graphs.
"""

from __future__ import annotations

from pydantic import Field

from glidein.common.config.base import ConfigPath, NonNegInt, PosInt, StrictModel


class Monitoring(StrictModel):
    """RRD history and the snapshot the monitoring web process serves."""

    enabled: bool = Field(default=True, description="Record RRD rows and the snapshot every cycle.")
    dir: ConfigPath | None = Field(
        default=None, description="Monitoring root (default `<state_dir>/monitor`)."
    )
    step: PosInt = Field(default=300, description="RRD step in seconds (glideinWMS: 300).")
    pilots_listed: NonNegInt = Field(
        default=2000, description="Newest pilots listed on the pilots page (factory only)."
    )
