"""`python3 -m glidein.pool.startd --config startd.json` (docs/INTERFACES.md §6). Stdlib, Python >= 3.6.

Exit 0 when it ends by lifetime, idleness or SIGTERM (after writing
<work_dir>/startd_result.json = {"jobs_run": n, "jobs_failed": n, "reason": "..."}); 2 on a bad
config or token file.
`--flush`: only send the job results a killed startd left in <work_dir>/results, and those of jobs
that ended in its sandboxes unseen (their exit code file written just before the kill), for at most
result_grace seconds, then exit 0 (the pilot wrapper runs it after its startd was killed).
"""

import argparse
import logging
import os
import sys

from glidein.pool.startd.config import ConfigProblem, load_config
from glidein.pool.startd.daemon import Startd, install_signals, write_result
from glidein.pool.startd.jobs import ended_unseen
from glidein.pool.startd.schedd_client import ScheddClient


def main() -> int:
    parser = argparse.ArgumentParser(prog="glidein-startd", description="embedded startd")
    parser.add_argument("--config", required=True, help="startd.json")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument(
        "--flush", action="store_true", help="send the results a killed startd left, then exit"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s startd %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config)
        with open(config.token_file) as handle:
            token = handle.read().strip()
        os.makedirs(config.work_dir, exist_ok=True)
    except ConfigProblem as exc:
        print("glidein startd: error: {}".format(exc), file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            "glidein startd: error: {}: {}".format(getattr(exc, "filename", ""), exc.strerror),
            file=sys.stderr,
        )
        return 2
    startd = Startd(config, ScheddClient(config.schedd_url, token))
    if args.flush:
        for result in ended_unseen(startd.execute_dir):
            startd.outbox.pending[result.claim_id] = result
        left = startd.outbox.load()
        dropped = startd.outbox.drain(config.result_grace)
        logging.getLogger("glidein.startd").info("results left: %d, not taken: %d", left, len(dropped))
        return 0
    install_signals(startd)
    reason = startd.run()
    write_result(config.work_dir, startd.jobs_run, reason, startd.jobs_failed)
    logging.getLogger("glidein.startd").info("startd ends: reason=%s jobs_run=%d", reason, startd.jobs_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
