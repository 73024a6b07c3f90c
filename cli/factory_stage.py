"""`glidein factory stage` and `glidein factory web`: the staging area and its web process.

The factory command group (cli/factory.py) calls `register_stage(its_subparsers)`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from glidein.cli.common import Subparsers, add_command
from glidein.common.errors import ConfigError
from glidein.factory import staging
from glidein.factory.web import WebConfig, make_server

if TYPE_CHECKING:
    from glidein.common.config.factory import FactoryConfig
    from glidein.common.config.files import StagedFile

log = logging.getLogger(__name__)


def register_stage(subparsers: Subparsers) -> None:
    help_text = "write a new stage: hashed files, descriptions, signatures"
    stage = add_command(subparsers, "stage", _stage, help_text)
    stage.add_argument("--config", type=Path, help="factory config file (staging section and entries)")
    stage.add_argument("--stage-dir", type=Path, help="stage directory (overrides the config)")
    stage.add_argument("--url", help="base URL pilots reach the stage at (overrides the config)")
    stage.add_argument("--hash-algorithm", choices=staging.HASH_ALGORITHMS, help="default: config or sha256")
    stage.add_argument("--signing-key", type=Path, help="Ed25519 private key (PEM) signing the stage")
    stage.add_argument("--entry", action="append", default=[], help="stage an entry level (repeatable)")
    stage.add_argument("--grace", type=int, help="seconds old stages stay served (default 86400)")
    web = add_command(subparsers, "web", _web, "serve the stage over HTTP(S) and take pilot reports")
    web.add_argument("--config", type=Path, help="factory config (staging.dir, staging.listen, state_dir)")
    web.add_argument("--stage-dir", type=Path, help="stage directory (overrides the config)")
    web.add_argument("--state-dir", type=Path, help="where pilot logs and reports are stored")
    web.add_argument("--host", help="listen address (default 127.0.0.1)")
    web.add_argument("--port", type=int, help="listen port (default 8319)")
    web.add_argument("--tls-cert", type=Path, help="PEM certificate: serve HTTPS")
    web.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    web.add_argument("--report-key", type=Path, help="report HMAC key file (default <state-dir>/report.key)")
    web.add_argument("--url-prefix", help="URL path the stage is served under (config: path of staging.url)")


def _load_config(path: Path) -> FactoryConfig:
    from glidein.common.config import load_factory_config

    return load_factory_config(path)


def _files(raw: Sequence[StagedFile]) -> list[staging.StageFile]:
    return [staging.StageFile(Path(f.path), f.kind, f.order, f.period, f.timeout, f.untar_dir) for f in raw]


def spec_from_config(cfg: FactoryConfig) -> staging.StagingSpec:
    """StagingSpec from a loaded FactoryConfig (`staging` section and entries)."""
    section = cfg.staging
    spec = staging.StagingSpec(stage_dir=Path(section.dir), web_url=str(section.url))
    spec.hash_algorithm = section.hash_algorithm
    spec.signing_key = Path(section.signing.key) if section.signing else None
    spec.grace_period_s = int(section.grace_period)
    spec.main = _files(section.files)
    spec.condor_tarball = Path(section.condor_tarball) if section.condor_tarball else None
    spec.constants = {"GLIDEIN_STARTD_MODE": section.startd_mode}
    spec.entries = {entry.name: _files(entry.files) for entry in cfg.all_entries()}
    for name, files in section.frontend_files.items():
        (spec.groups if "." in name else spec.clients)[name] = _files(files)
    return spec


def build_spec(args: argparse.Namespace) -> staging.StagingSpec:
    """StagingSpec from the config, flags overriding."""
    spec = staging.StagingSpec(stage_dir=Path(), web_url="")
    if args.config:
        spec = spec_from_config(_load_config(args.config))
    spec.grace_period_s = args.grace if args.grace is not None else spec.grace_period_s
    spec.stage_dir = args.stage_dir or spec.stage_dir
    spec.web_url = args.url or spec.web_url
    spec.hash_algorithm = args.hash_algorithm or spec.hash_algorithm
    spec.signing_key = args.signing_key or spec.signing_key
    spec.entries.update({name: [] for name in args.entry if name not in spec.entries})
    if spec.stage_dir == Path() or not spec.web_url:
        raise ConfigError("staging needs a stage directory and a URL (--config, or --stage-dir and --url)")
    return spec


def _stage(args: argparse.Namespace) -> int:
    spec = build_spec(args)
    result = staging.stage(spec)
    print(f"stage written to {spec.stage_dir} ({result.hash_algorithm}), served at {spec.web_url}")
    print(f"main: -sign {result.main.sign} -descript {result.main.descript}")
    for name, level in sorted(result.entries.items()):
        print(f"entry {name}: -signentry {level.sign} -descriptentry {level.descript}")
    if result.public_key:
        print(f"signed: -signkey {result.public_key}")
    return 0


def build_web_config(args: argparse.Namespace) -> WebConfig:
    config = WebConfig(stage_dir=Path(), state_dir=Path())
    if args.config:
        cfg = _load_config(args.config)
        host, _, port = str(cfg.staging.listen).rpartition(":")
        config = WebConfig(Path(cfg.staging.dir), Path(cfg.state_dir), host or "127.0.0.1", int(port))
        config.url_prefix = urllib.parse.urlsplit(str(cfg.staging.url)).path.rstrip("/")
        config.report_key = cfg.security.report_key
        config.tls_cert, config.tls_key = cfg.staging.tls_cert, cfg.staging.tls_key
    config.stage_dir = args.stage_dir or config.stage_dir
    config.state_dir = args.state_dir or config.state_dir
    config.host = args.host or config.host
    config.port = args.port if args.port is not None else config.port
    config.tls_cert = args.tls_cert or config.tls_cert
    config.tls_key = args.tls_key or config.tls_key
    config.report_key = args.report_key or config.report_key
    if args.url_prefix is not None:
        config.url_prefix = args.url_prefix.rstrip("/")
    if config.stage_dir == Path() or config.state_dir == Path():
        raise ConfigError("web needs a stage dir and a state dir (--config, or --stage-dir and --state-dir)")
    return config


def _web(args: argparse.Namespace) -> int:
    config = build_web_config(args)
    server = make_server(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheme = "https" if config.tls_cert else "http"
    log.info("serving %s at %s://%s:%d/", config.stage_dir, scheme, config.host, server.server_address[1])
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    log.info("stopped")
    return 0
