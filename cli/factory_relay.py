"""`glidein factory relay deploy ENTRY` and `glidein factory relay status`: site relays by hand.

`deploy` runs the relay monitor's step for one entry now (as each factory cycle does), deploying
a relay even during a back-off, never beside one that answers; `status` prints what the factory
knows of each entry's relay. The factory command group (cli/factory.py) calls `register_relay`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from glidein.cli.common import Subparsers, add_command
from glidein.common.errors import ConfigError
from glidein.common.timefmt import when_relative


def register_relay(subparsers: Subparsers) -> None:
    relay = subparsers.add_parser("relay", help="site relays: deploy one now, show their state")
    actions = relay.add_subparsers(dest="relay_command", metavar="ACTION", required=True)
    deploy = add_command(actions, "deploy", _deploy, "deploy ENTRY's relay now (none beside a live one)")
    deploy.add_argument("entry", help="entry name (it must have `relay:` in the config)")
    status = add_command(actions, "status", _status, "each relay's phase, name, job and last problem")
    for parser in (deploy, status):
        parser.add_argument("--config", type=Path, required=True, help="factory config file (YAML)")


def _config(path: Path) -> Any:
    from glidein.common.config import load_factory_config

    return load_factory_config(path)


def _relay_entries(cfg: Any) -> list[Any]:
    from glidein.factory.relay.monitor import with_relay

    return with_relay(cfg.all_entries())


def state_line(state: Any, now: float) -> str:
    parts = [f"{state.entry}: {state.phase.value}", f"kind={state.kind}"]
    parts += [f"name={state.name}"] if state.name else []
    parts += [f"job={state.job_id}"] if state.job_id else []
    parts += [f"deploys={state.deploys}", f"failures={state.failures}"]
    if state.phase.value == "down" and state.next_deploy > now:
        parts.append(f"next={when_relative(state.next_deploy, now)}")
    parts += [f"reason={state.reason!r}"] if state.reason else []
    return " ".join(parts)


def _deploy(args: argparse.Namespace) -> int:
    from glidein.common.condor_auth import use_token_dir
    from glidein.factory.relay.monitor import RelayMonitor

    cfg = _config(args.config)
    found = [e for e in _relay_entries(cfg) if e.name == args.entry]
    if not found:
        raise ConfigError(f"{args.config}: no enabled entry {args.entry!r} with a relay")
    use_token_dir(cfg.condor_tokens)
    state = RelayMonitor(Path(cfg.state_dir), cfg.name).step(found[0], force=True)
    print(state_line(state, time.time()))
    return 0 if state.phase.value in ("deploying", "live") else 1


def _status(args: argparse.Namespace) -> int:
    from glidein.factory.relay import state as store

    cfg = _config(args.config)
    entries = _relay_entries(cfg)
    if not entries:
        print("no entry has a relay")
    for entry in entries:
        print(state_line(store.load(Path(cfg.state_dir), entry.name, entry.relay.kind), time.time()))
    return 0
