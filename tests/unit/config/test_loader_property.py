"""Any edit of a valid config either loads or fails with path-naming lines; never another exception."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glidein.common.config import ConfigProblems, load_config

ETC = Path(__file__).resolve().parents[3] / "etc"
EXAMPLES = {name: yaml.safe_load((ETC / name).read_text()) for name in ("factory.yaml", "frontend.yaml")}

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


PATHS = {name: paths(data) for name, data in EXAMPLES.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(EXAMPLES)),
    pick=st.integers(min_value=0, max_value=10**6),
    value=values,
    rename=st.booleans(),
)
def test_mutated_config_loads_or_names_file_and_path(
    name: str, pick: int, value: object, rename: bool
) -> None:
    data = copy.deepcopy(EXAMPLES[name])
    path = PATHS[name][pick % len(PATHS[name])]
    parent: object = data
    for part in path[:-1]:
        parent = parent[part]  # type: ignore[index]
    last = path[-1]
    if rename and isinstance(parent, dict):
        parent[f"{last}_x"] = parent.pop(last)
    else:
        parent[last] = value  # type: ignore[index]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / name
        target.write_text(yaml.safe_dump(data))
        kind = "factory" if name == "factory.yaml" else "frontend"
        try:
            load_config(target, kind)  # type: ignore[arg-type]
        except ConfigProblems as exc:
            assert exc.lines
            for line in exc.lines:
                assert line.startswith(f"{target}: "), line
                assert len(line.split(": ")) >= 3, line
                assert "\n" not in line
