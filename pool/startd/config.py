"""startd.json (docs/INTERFACES.md section 6), validated once into a StartdConfig. Stdlib, Python >= 3.6."""

import json
from typing import Any, Dict, NamedTuple


class ConfigProblem(Exception):
    """startd.json is unusable; the message names the file and the key."""


class StartdConfig(NamedTuple):
    name: str
    collector: str
    schedd_url: str
    token_file: str
    work_dir: str
    cpus: int
    memory_mb: int
    disk_mb: int
    gpus: int
    start_expr: str
    attrs: Dict[str, str]
    retire_time: float
    die_time: float
    max_idle_time: float
    max_tail_time: float
    advertise_interval: float
    poll_interval: float
    result_grace: float


_REQUIRED_STR = ("name", "schedd_url", "token_file", "work_dir")
_INTS = {"cpus": 1, "memory_mb": 1024, "disk_mb": 1024, "gpus": 0}
_TIMES = {
    "retire_time": 0.0,
    "die_time": 0.0,
    "max_idle_time": 0.0,
    "max_tail_time": 0.0,
    "advertise_interval": 60.0,
    "poll_interval": 5.0,
    "result_grace": 60.0,  # at the end, how long finished jobs' results are still offered to the schedd
}


def _number(data: Dict[str, Any], key: str, default: float, where: str) -> float:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigProblem("{}: {}: must be a number >= 0, got {!r}".format(where, key, value))
    return float(value)


def parse_config(data: Any, where: str = "startd.json") -> StartdConfig:
    if not isinstance(data, dict):
        raise ConfigProblem("{}: must hold a JSON object".format(where))
    known = set(StartdConfig._fields) | set(_REQUIRED_STR)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigProblem("{}: {}: unknown key".format(where, unknown[0]))
    for key in _REQUIRED_STR:
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigProblem("{}: {}: required string".format(where, key))
    for key in ("collector", "start_expr"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigProblem("{}: {}: must be a string".format(where, key))
    attrs = data.get("attrs") or {}
    if not isinstance(attrs, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()
    ):
        raise ConfigProblem("{}: attrs: must map attribute names to ClassAd expression texts".format(where))
    ints = {key: int(_number(data, key, default, where)) for key, default in _INTS.items()}
    if ints["cpus"] < 1:
        raise ConfigProblem("{}: cpus: must be >= 1".format(where))
    times = {key: _number(data, key, default, where) for key, default in _TIMES.items()}
    times["poll_interval"] = max(times["poll_interval"], 0.1)
    times["advertise_interval"] = max(times["advertise_interval"], 1.0)
    values = {
        "name": data["name"],
        "collector": data.get("collector") or "",
        "schedd_url": data["schedd_url"].rstrip("/"),
        "token_file": data["token_file"],
        "work_dir": data["work_dir"],
        "start_expr": data.get("start_expr") or "true",
        "attrs": dict(attrs),
    }  # type: Dict[str, Any]
    values.update(ints)
    values.update(times)
    return StartdConfig(**values)


def load_config(path: str) -> StartdConfig:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigProblem("{}: cannot read: {}".format(path, exc)) from None
    return parse_config(data, path)
