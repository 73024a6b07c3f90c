"""`glidein factory run`: the factory daemon's lifecycle only (the work is in factory/cycle.py).

Start-up logs version, Python and config path; the loop runs a cycle every `loop.interval`
seconds; SIGHUP reloads the config (a bad one is logged and the old one kept); SIGTERM/SIGINT
stop after the current cycle, invalidate the factory's ads and shut the worker pool down.
Signal handlers only set flags. A state dir that cannot be written at start-up (factory.db, the
keys) is one line and a retry (every 1, 2, 4 ... 60 s) rather than an exit: the daemon starts by
itself once the disk takes writes again; `--once` exits 1 instead.
"""

from __future__ import annotations

import logging
import platform
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from glidein import __version__
from glidein.common.errors import GlideinError
from glidein.common.log import log_exception
from glidein.factory.autoconf.refresh import Refresher
from glidein.factory.cycle import BusLike, FactoryCycle
from glidein.factory.relay.monitor import RelayMonitor
from glidein.factory.state import StateWriteError

log = logging.getLogger(__name__)
MAX_START_DELAY = 60.0


def _default_bus(cfg: Any) -> BusLike:
    from glidein.common.bus import Bus
    from glidein.common.condor_auth import use_token_dir

    use_token_dir(cfg.condor_tokens)  # the collectors and schedds may be real HTCondor ones
    return Bus(list(cfg.collectors))


def _load(path: Path) -> Any:
    from glidein.common.config import load_factory_config

    return load_factory_config(path)


class FactoryDaemon:
    def __init__(
        self,
        config_path: Path,
        bus_factory: Callable[[Any], BusLike] = _default_bus,
        loader: Callable[[Path], Any] = _load,
    ) -> None:
        self.config_path, self.bus_factory, self.loader = config_path, bus_factory, loader
        self.stop_requested = False
        self.reload_requested = False
        self.wake = threading.Event()
        self.refresher = Refresher()  # autoconf: entries from the information system

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True
        self.wake.set()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_requested = True
        self.wake.set()

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _reload(self, cycle: FactoryCycle) -> None:
        self.reload_requested = False
        try:
            cfg = self.loader(self.config_path)
        except GlideinError as exc:
            log_exception(log, f"reload of {self.config_path} refused, keeping the running config", exc)
            return
        cycle.reload(cfg)
        log.info("reloaded %s: %d enabled entries", self.config_path, len(cycle.entries()))

    def _start(self, cfg: Any, once: bool) -> FactoryCycle | None:
        """The cycle, once its state dir can be opened; None when stopped (or `once`) before."""
        bus, delay, said = self.bus_factory(cfg), 1.0, ""
        while not self.stop_requested:
            try:
                return FactoryCycle(cfg, bus)
            except (StateWriteError, OSError) as exc:
                if str(exc) != said:
                    log.error("cannot start: %s%s", exc, "" if once else "; retrying until it can")
                    said = str(exc)
            if once:
                return None
            self.wake.wait(delay)
            self.wake.clear()
            delay = min(MAX_START_DELAY, delay * 2)
        return None

    def run(self, once: bool = False) -> int:
        log.info(
            "glidein factory %s starting (Python %s), config %s",
            __version__,
            platform.python_version(),
            self.config_path,
        )
        cfg = self.loader(self.config_path)
        cycle = self._start(cfg, once)
        if cycle is None:
            log.info("factory stopped")
            return 1 if once else 0
        log.info("factory=%s glidein=%s entries=%d", cfg.name, cfg.glidein_name, len(cycle.entries()))
        try:
            while not self.stop_requested:
                if self.refresher.tick(cycle.cfg):  # the entries file changed: load it
                    self.reload_requested = True
                if self.reload_requested:
                    self._reload(cycle)
                started = time.monotonic()
                RelayMonitor(Path(cycle.cfg.state_dir), cycle.cfg.name).tick(cycle.cfg.all_entries())
                cycle.run_once()
                if once:
                    break
                self.wake.clear()
                pause = max(0.0, float(cycle.cfg.loop.interval) - (time.monotonic() - started))
                if not self.stop_requested and not self.reload_requested:
                    self.wake.wait(pause)
        finally:
            log.info("factory stopping%s", "" if once else ": invalidating its ads")
            cycle.shutdown(invalidate=not once)  # after --once the ads stay for their lifetime
        log.info("factory stopped")
        return 0
