"""glideinWMS lifetimes as one pure decision. Stdlib, Python >= 3.6.

Times in startd.json are seconds from the startd's start (0 = never):
retire_time: take no new jobs, leave when the running ones end; die_time: kill jobs and leave;
max_idle_time: leave if no job has started by then; max_tail_time: leave when idle this long
after the last job ended.
"""

from typing import NamedTuple, Optional

from glidein.pool.startd.config import StartdConfig

DIE = "die_time"
RETIRE = "retire_time"
MAX_IDLE = "max_idle_time"
MAX_TAIL = "max_tail_time"


class Activity(NamedTuple):
    started_at: float
    jobs_started: int
    running: int
    last_job_end: Optional[float]


def retiring(config: StartdConfig, activity: Activity, now: float) -> bool:
    return bool(config.retire_time) and now >= activity.started_at + config.retire_time


def decide(config: StartdConfig, activity: Activity, now: float) -> Optional[str]:
    """Why the startd must end now, or None. DIE kills running jobs; the others find none running."""
    age = now - activity.started_at
    if config.die_time and age >= config.die_time:
        return DIE
    if activity.running:
        return None
    if retiring(config, activity, now):
        return RETIRE
    if activity.jobs_started == 0:
        return MAX_IDLE if config.max_idle_time and age >= config.max_idle_time else None
    last = activity.last_job_end if activity.last_job_end is not None else activity.started_at
    if config.max_tail_time and now - last >= config.max_tail_time:
        return MAX_TAIL
    return None
