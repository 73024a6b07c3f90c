"""`glidein factory ...`: the factory command group (owner: factory; `stage` and `web` come from
cli/factory_stage.py via `register_stage`).

    glidein factory run --config F [--once]
    glidein factory status --config F [--json]
    glidein factory unblock ENTRY --config F      (lifted at the daemon's next cycle)
    glidein factory autoconf --config F [--dry-run]   (cli/factory_autoconf.py)
    glidein factory downtime add|end|list --config F [--entry E] [--frontend FE] [--security-class SC]
                                          [--start ISO|now] [--end ISO] [--comment TEXT] [--id N]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from glidein.cli.common import Subparsers, add_command
from glidein.cli.factory_autoconf import register_autoconf
from glidein.cli.factory_relay import register_relay
from glidein.cli.factory_stage import register_stage
from glidein.common.errors import ConfigError
from glidein.common.timefmt import when_relative
from glidein.factory.downtimes import ALL, Downtime, DowntimeStore, entry_down, from_config
from glidein.factory.health import Health
from glidein.factory.state import PilotStore


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "factory", help="the glidein factory: daemon, status, downtimes, staging, web"
    )
    group = parser.add_subparsers(dest="factory_command", metavar="SUBCOMMAND", required=True)
    register_stage(group)
    register_autoconf(group)
    register_relay(group)
    run = add_command(group, "run", _run, "run the factory daemon")
    run.add_argument("--config", type=Path, required=True, help="factory config file (YAML)")
    run.add_argument("--once", action="store_true", help="run one cycle and exit")
    status = add_command(group, "status", _status, "entries, pilots by state, requests and limits")
    status.add_argument("--config", type=Path, required=True, help="factory config file (YAML)")
    status.add_argument("--json", action="store_true", help="print the last cycle's status as JSON")
    unblock = add_command(group, "unblock", _unblock, "lift an entry's black-hole block at the next cycle")
    unblock.add_argument("entry", help="entry name")
    unblock.add_argument("--config", type=Path, required=True, help="factory config file (YAML)")
    downtime = group.add_parser("downtime", help="add, end or list downtimes")
    dt = downtime.add_subparsers(dest="downtime_command", metavar="ACTION", required=True)
    for name, handler, text in (
        ("add", _dt_add, "add a downtime"),
        ("end", _dt_end, "end active downtimes (of --entry, or --id)"),
        ("list", _dt_list, "list downtimes"),
    ):
        p = add_command(dt, name, handler, text)
        p.add_argument("--config", type=Path, required=True, help="factory config file (YAML)")
        p.add_argument("--entry", default=ALL, help="entry name or All (default All)")
        if name == "add":
            p.add_argument("--frontend", default=ALL, help="frontend or All (default All)")
            p.add_argument("--security-class", default=ALL, help="security class or All (default All)")
            p.add_argument("--start", default="now", help="ISO 8601 time or 'now' (default now)")
            p.add_argument("--end", help="ISO 8601 time (default: open-ended)")
            p.add_argument("--comment", default="", help="shown in status and list")
        if name == "end":
            p.add_argument("--id", type=int, default=0, help="end only the downtime with this id")
        if name == "list":
            p.add_argument("--all", action="store_true", help="also list ended downtimes")


def _config(path: Path) -> Any:
    from glidein.common.config import load_factory_config

    return load_factory_config(path)


def _run(args: argparse.Namespace) -> int:
    from glidein.factory.daemon import FactoryDaemon

    daemon = FactoryDaemon(args.config)
    daemon.install_signals()
    return daemon.run(once=args.once)


def _db(args: argparse.Namespace, cfg: Any = None) -> Path:
    cfg = cfg if cfg is not None else _config(args.config)
    state_dir = Path(cfg.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return state_dir / "factory.db"


def _when(text: str, what: str) -> float:
    if text == "now":
        return time.time()
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--{what} {text!r}: not an ISO 8601 time (e.g. 2026-12-24T08:00:00Z) or 'now'"
        ) from None
    return stamp.timestamp()


def _known(path: Path, cfg: Any, entry: str, frontend: str = ALL) -> None:
    """ConfigError naming the entry (or frontend) that the config `path` does not have."""
    entries = sorted(e.name for e in cfg.all_entries())
    if entry != ALL and entry not in entries:
        shown = ", ".join(entries[:10]) + (" ..." if len(entries) > 10 else "")
        raise ConfigError(f"{path}: no entry {entry!r} (entries: {shown or 'none'})")
    frontends = sorted(fe.name for fe in cfg.frontends)
    if frontend != ALL and frontend not in frontends:
        raise ConfigError(f"{path}: no frontend {frontend!r} (frontends: {', '.join(frontends) or 'none'})")


def _dt_add(args: argparse.Namespace) -> int:
    start = _when(args.start, "start")
    end = _when(args.end, "end") if args.end else None
    if end is not None and end <= start:
        raise ConfigError("--end must be after --start")
    cfg = _config(args.config)
    _known(args.config, cfg, args.entry, args.frontend)
    store = DowntimeStore(_db(args, cfg))
    ident = store.add(Downtime(args.entry, args.frontend, args.security_class, start, end, args.comment))
    print(f"downtime {ident} added for entry {args.entry}")
    return 0


def _dt_end(args: argparse.Namespace) -> int:
    cfg = _config(args.config)
    _known(args.config, cfg, args.entry)
    ended = DowntimeStore(_db(args, cfg)).end(time.time(), args.entry, args.id)
    print(f"ended downtime(s) {', '.join(map(str, ended))}")
    return 0


def _dt_list(args: argparse.Namespace) -> int:
    now, cfg = time.time(), _config(args.config)
    _known(args.config, cfg, args.entry)
    for d in DowntimeStore(_db(args, cfg)).all():
        if (args.all or d.active(now) or d.start > now) and (args.entry in (ALL, d.entry)):
            print(("ACTIVE " if d.active(now) else "       ") + d.describe())
    return 0


def _print_frontends(frontends: dict[str, Any]) -> None:
    """The frontends' glideclientglobal ads as the last cycle saw them (factory/frontends.py)."""
    for name, seen in frontends.get("seen", {}).items():
        groups = ",".join(seen.get("groups", [])) or "-"
        print(
            f"frontend {name}: identity={seen.get('identity')} key_id={seen.get('key_id')} groups={groups}"
            f" requests={seen.get('requests')} version={seen.get('version') or '-'}"
        )
        for note in seen.get("notes", []):
            print(f"  note: {note}")
    for ad_name, why in frontends.get("refused", {}).items():
        print(f"glideclientglobal {ad_name} refused: {why}")


def _cycle_line(last: dict[str, Any], now: float) -> str:
    """The last cycle as readable fields (status.json's `cycle`)."""
    c = last.get("cycle", {})
    failed = ", ".join(c.get("failed_entries", [])) or "none"
    line = (
        f"last cycle: {when_relative(float(last.get('time', 0)), now)},"
        f" took {float(c.get('seconds', 0)):.2f} s:"
        f" {c.get('entries', 0)} entries, {c.get('requests', 0)} requests, {c.get('submitted', 0)} pilots"
        f" submitted, {c.get('removed', 0)} removed; failed entries: {failed}"
    )
    return line + (f"\n  state dir: {c['state_error']}" if c.get("state_error") else "")


def _entry_note(info: dict[str, Any], health: Health | None, down: Downtime | None, now: float) -> str:
    """BLOCKED (until when, why) / DOWNTIME (until when) / the entry's errors, or ''."""
    notes = []
    if health is not None and health.blocked(now):
        notes.append(f"BLOCKED until {when_relative(health.blocked_until, now)}: {health.reason}")
    if down is not None:
        until = "open-ended" if down.end is None else f"until {when_relative(down.end, now)}"
        notes.append(f"DOWNTIME {until}" + (f": {down.comment}" if down.comment else ""))
    notes.extend(info.get("errors", []))
    return "; ".join(notes)


def _status(args: argparse.Namespace) -> int:
    cfg = _config(args.config)
    db = _db(args, cfg)
    status_file = db.parent / "status.json"
    last: dict[str, Any] = json.loads(status_file.read_text()) if status_file.exists() else {}
    if args.json:
        print(json.dumps(last, indent=1, sort_keys=True))
        return 0
    now = time.time()
    store = PilotStore(db)
    try:
        counts, health = store.counts_by_entry(), store.load_health()
    finally:
        store.close()
    all_downtimes = DowntimeStore(db).all()
    configured = {e.name: e for e in cfg.all_entries()}
    entries = last.get("entries", {})
    print(_cycle_line(last, now) if last else "no cycle recorded yet (status.json absent)")
    print(f"{'ENTRY':30} {'PILOTS BY STATE':40} BLOCKED / DOWNTIME / ERRORS")
    for name in sorted(set(counts) | set(entries) | set(configured)):
        by_state = " ".join(f"{k}={v}" for k, v in sorted(counts.get(name, {}).items())) or "-"
        own = from_config(name, configured[name].downtimes) if name in configured else []
        down = entry_down(all_downtimes + own, name, now)
        info = entries.get(name, {})
        print(f"{name:30} {by_state:40} {_entry_note(info, health.get(name), down, now)}".rstrip())
        for c in info.get("clients", []):
            print(
                f"  client={c['client']} idle={c['idle']} running={c['running']} held={c['held']}"
                f" req_idle={c['req_idle']} req_max={c['req_max']} submit={c['submit']} limit={c['limit']}"
                f" jobs_idle={c.get('jobs_idle', 0)} jobs_running={c.get('jobs_running', 0)}"
            )
    _print_frontends(last.get("frontends", {}))
    for d in all_downtimes:
        if d.active(now):
            print("downtime " + d.describe())
    return 0


def _unblock(args: argparse.Namespace) -> int:
    cfg = _config(args.config)
    _known(args.config, cfg, args.entry)
    store = PilotStore(_db(args, cfg))
    try:
        now = time.time()
        health = store.load_health().get(args.entry)
        store.request_unblock(args.entry, now)
    finally:
        store.close()
    if health is not None and health.blocked(now):
        print(
            f"entry {args.entry}: blocked until {when_relative(health.blocked_until, now)} ({health.reason});"
            " the factory lifts the block at its next cycle"
        )
    else:
        print(f"entry {args.entry}: not blocked now; the request is kept for the factory's next cycle")
    return 0
