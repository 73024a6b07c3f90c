"""The embedded startd's main loop: advertise, claim, run, heartbeat, complete, end by lifetime.

Stdlib, Python >= 3.6. Decisions (lifetimes) are in lifetime.py; this module only acts.
"""

import json
import logging
import os
import signal
import time
from typing import Any, Callable, Dict, List, Optional  # noqa: F401 - Dict in type comments

from glidein.pool.startd import lifetime
from glidein.pool.startd.config import StartdConfig
from glidein.pool.startd.jobs import PGID_DIR, JobSetupError, RunningJob
from glidein.pool.startd.results import SPOOL_DIR, Outbox, Result
from glidein.pool.startd.schedd_client import ClaimGone, Refused, ScheddClient, ScheddUnavailable
from glidein.pool.startd.slot import Free, Pairs, slot_ad

log = logging.getLogger("glidein.startd")
TICK = 0.2
Advertiser = Callable[[str, List[Pairs]], None]


def _cedar_advertiser(address: str, ads: List[Pairs]) -> None:
    from glidein.pool import cedar

    cedar.advertise(address, ads, "UPDATE_STARTD_AD", timeout=5.0)


class Startd(object):
    def __init__(
        self, config: StartdConfig, client: ScheddClient, advertiser: Optional[Advertiser] = None
    ) -> None:
        self.config = config
        self.client = client
        self.advertiser = advertiser or _cedar_advertiser
        self.started_at = time.time()
        self.jobs = {}  # type: Dict[str, RunningJob]
        self.jobs_run = 0
        self.jobs_failed = 0  # jobs that ended with a non-zero exit code
        self.jobs_started = 0
        self.last_job_end = None  # type: Optional[float]
        self.stop_reason = None  # type: Optional[str]
        self.next_claim = 0.0
        self.next_advertise = 0.0
        self.execute_dir = os.path.join(config.work_dir, "execute")
        self.pgid_dir = os.path.join(config.work_dir, PGID_DIR)
        self.outbox = Outbox(client, config.poll_interval, os.path.join(config.work_dir, SPOOL_DIR))
        self.base_env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}

    # -------------------------------------------------------------- state

    def free(self) -> Free:
        used = [job.requests for job in self.jobs.values()]
        return Free(
            self.config.cpus - sum(int(r.get("RequestCpus", 1)) for r in used),
            self.config.memory_mb - sum(int(r.get("RequestMemory", 0)) for r in used),
            self.config.disk_mb - sum(int(r.get("RequestDisk", 0)) for r in used) // 1024,
            self.config.gpus - sum(int(r.get("RequestGPUs", 0)) for r in used),
        )

    def activity(self) -> lifetime.Activity:
        return lifetime.Activity(self.started_at, self.jobs_started, len(self.jobs), self.last_job_end)

    def ad(self, now: float) -> Pairs:
        state = (len(self.jobs), self.jobs_run, lifetime.retiring(self.config, self.activity(), now))
        return slot_ad(self.config, self.free(), self.started_at, state)

    # -------------------------------------------------------------- actions

    def advertise(self, now: float) -> None:
        self.next_advertise = now + self.config.advertise_interval
        if not self.config.collector:
            return
        try:
            self.advertiser(self.config.collector, [self.ad(now)])
        except Exception as exc:  # any failure of the collector must not stop the startd
            log.warning("cannot advertise to %s: %s", self.config.collector, exc)

    def claim_jobs(self, now: float) -> None:
        self.next_claim = now + self.config.poll_interval
        while self.free().cpus > 0 and not lifetime.retiring(self.config, self.activity(), now):
            try:
                payload = self.client.claim(self.config.name, self.ad(now))
            except Refused as exc:
                log.error("schedd refused our token: %s", exc)
                return
            except ScheddUnavailable as exc:
                log.warning("cannot claim from %s: %s", self.config.schedd_url, exc)
                return
            if payload is None:
                return
            try:
                machine_ad = "".join("{} = {}\n".format(k, v) for k, v in self.ad(now))  # old syntax
                job = RunningJob(
                    dict(payload, machine_ad=machine_ad), self.execute_dir, self.base_env, self.pgid_dir
                )
            except JobSetupError as exc:
                log.error("%s", exc)
                self._release(str(payload.get("claim_id")), str(exc))
                return
            self.jobs[job.claim_id] = job
            self.jobs_started += 1
            log.info("started job=%s claim=%s cpus=%d", job.job_id, job.claim_id[:8], job.cpus())
            self.advertise(now)

    def _release(self, claim_id: str, reason: str) -> None:
        try:
            self.client.release(claim_id, reason)
        except (ClaimGone, Refused, ScheddUnavailable) as exc:
            log.warning("cannot release claim %s: %s", claim_id[:8], exc)

    def check_jobs(self, now: float) -> None:
        for job in list(self.jobs.values()):
            code = job.poll()
            if code is not None:
                self._finish(job, code if code >= 0 else 128 - code, now)
            elif now - job.last_heartbeat >= job.lease / 4:
                self._heartbeat(job, now)

    def _heartbeat(self, job: RunningJob, now: float) -> None:
        try:
            self.client.heartbeat(job.claim_id)
            job.last_heartbeat = now
        except ClaimGone as exc:
            log.warning("job=%s claim gone (%s): killing it", job.job_id, exc)
            self._drop(job)
        except (Refused, ScheddUnavailable) as exc:
            log.warning("heartbeat for job=%s failed: %s", job.job_id, exc)

    def _finish(self, job: RunningJob, exit_code: int, now: float) -> None:
        """The job is over: its slot is free at once, its result waits in the outbox until taken."""
        stdout, stderr = job.outputs()
        self.jobs_run += 1
        self.jobs_failed += 1 if exit_code != 0 else 0
        self.last_job_end = now
        self.next_claim = now  # a freed slot asks for the next job at once
        self._drop(job)
        self.outbox.add(Result(job.claim_id, job.job_id, exit_code, stdout, stderr), now)
        self.advertise(now)

    def _drop(self, job: RunningJob) -> None:
        job.kill()
        job.cleanup()
        self.jobs.pop(job.claim_id, None)

    def kill_all(self, reason: str) -> None:
        """Stop: jobs that already ended are completed (their results kept), the others killed and
        given back to the schedd."""
        now = time.time()
        for job in list(self.jobs.values()):
            code = job.poll()
            if code is not None:
                self._finish(job, code if code >= 0 else 128 - code, now)
        for job in list(self.jobs.values()):
            job.kill()
            self._release(job.claim_id, reason)
            log.info("killed job=%s (%s): back to the schedd", job.job_id, reason)
            self._drop(job)

    # -------------------------------------------------------------- loop

    def step(self, now: float) -> Optional[str]:
        """One pass of the loop; returns why the startd ends, or None."""
        self.check_jobs(now)
        self.outbox.flush(now)
        reason = lifetime.decide(self.config, self.activity(), now)
        if reason is not None:
            return reason
        if now >= self.next_claim and not self.outbox.pending:  # no new work while results wait
            self.claim_jobs(now)
        if now >= self.next_advertise:
            self.advertise(now)
        return None

    def run(self) -> str:
        os.makedirs(self.execute_dir, exist_ok=True)
        self.outbox.load()  # results a killed startd left in this work dir
        log.info("startd %s: cpus=%d memory=%d schedd=%s", self.config.name, self.config.cpus,
                 self.config.memory_mb, self.config.schedd_url)  # fmt: skip
        reason = None  # type: Optional[str]
        while reason is None:
            reason = self.stop_reason or self.step(time.time())
            if reason is None:
                time.sleep(TICK)
        self.kill_all(reason)
        self._invalidate()
        self.outbox.drain(self.config.result_grace)
        return reason

    def _invalidate(self) -> None:
        if not self.config.collector:
            return
        try:
            from glidein.pool import cedar

            constraint = 'Name == "{}"'.format(self.config.name.replace('"', '\\"'))
            cedar.invalidate(self.config.collector, "STARTD", constraint, timeout=5.0)
        except Exception as exc:
            log.warning("cannot invalidate our ad: %s", exc)


def write_result(work_dir: str, jobs_run: int, reason: str, jobs_failed: int = 0) -> None:
    path = os.path.join(work_dir, "startd_result.json")
    with open(path + ".tmp", "w") as handle:
        json.dump({"jobs_run": jobs_run, "jobs_failed": jobs_failed, "reason": reason}, handle)
    os.replace(path + ".tmp", path)


def install_signals(startd: Startd) -> None:
    def on_signal(signum: int, _frame: Any) -> None:
        startd.stop_reason = "signal"

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
