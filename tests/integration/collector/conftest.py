"""A real `glidein collector` process on a free loopback port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from glidein.pool import cedar
from tests.procs import Processes, free_port, wait_for_port


@dataclass
class Running:
    address: str
    port: int
    name: str
    processes: Processes

    def log(self) -> str:
        return self.processes.log(self.name)

    def lines(self, word: str) -> list[str]:
        """The collector's log lines holding `word`."""
        return [line for line in self.log().splitlines() if word in line]

    def answers(self) -> bool:
        """It still takes an update and answers a query for it."""
        name = f'"p{time.monotonic_ns()}"'
        cedar.advertise(self.address, [[("MyType", '"glideping"'), ("Name", name)]], "UPDATE_AD_GENERIC")
        return bool(cedar.query(self.address, "glideping", f"Name == {name}"))


StartCollector = Callable[..., Running]


@pytest.fixture
def start_collector(processes: Processes) -> Iterator[StartCollector]:
    def start(*extra: str) -> Running:
        port = free_port()
        name = f"collector-{port}"
        processes.glidein(["--debug", "collector", "--port", str(port), *extra], name)
        wait_for_port(port)
        return Running(f"127.0.0.1:{port}", port, name, processes)

    yield start


@pytest.fixture
def collector(start_collector: StartCollector) -> Running:
    return start_collector()
