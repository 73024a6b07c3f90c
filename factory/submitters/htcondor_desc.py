"""Pure: pilots -> HTCondor submit descriptions, and job ads -> pilot status.

One description serves a batch of pilots (one schedd transaction, one cluster): what differs per
pilot (its id, its arguments) comes in as item data (`queue ... from`), which HTCondor's submit
language would macro-expand. A value from outside (a frontend's parameter) holding `$` could
therefore read the factory's environment (`$ENV(...)`) or become a match-time `$$(...)`: such a
pilot is refused, never submitted with a changed value. Secret parameters (the pilots' IDTOKENs)
never go into the arguments, which every reader of the schedd sees: they travel as a 0600 file
transferred with the job (`-param_file`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glidein.common.errors import SubmitError
from glidein.factory.pilot_states import PilotState
from glidein.factory.submitters.base import BackendStatus, PilotSpec
from glidein.factory.submitters.param_file import SECRET_PARAMS, with_param_file

S = PilotState
GRID_TYPES = ("condor", "arc", "batch")  # grid_resource keywords this factory submits to
TOKEN_GRID_TYPES = ("condor", "arc")  # where the CE credential (scitokens_file) means something
ITEM_PILOT, ITEM_ARGS = "GlideinPilot", "GlideinArgs"
# JobStatus: 1 Idle, 2 Running, 3 Removed, 4 Completed, 5 Held, 6 Transferring output, 7 Suspended
_JOB_STATUS = {1: S.IDLE, 2: S.RUNNING, 3: S.REMOVED, 4: S.COMPLETED, 5: S.HELD, 6: S.RUNNING, 7: S.RUNNING}
PROJECTION = ["ClusterId", "ProcId", "JobStatus", "HoldReason", "ExitCode", "GlideinPilotId", "Iwd"]


def grid_type(grid_resource: str) -> str:
    kind = grid_resource.split(None, 1)[0].lower() if grid_resource.strip() else ""
    if kind not in GRID_TYPES:
        raise SubmitError(f"grid_resource {grid_resource!r}: type must be one of {', '.join(GRID_TYPES)}")
    return kind


def quote_arguments(args: Sequence[str]) -> str:
    """HTCondor's new argument syntax: the whole in double quotes, each argument in single quotes."""
    parts = []
    for arg in args:
        text = arg.replace('"', '""').replace("'", "''")
        parts.append(f"'{text}'" if (not text or any(c in text for c in " \t'")) else text)
    return '"' + " ".join(parts) + '"'


def quote_environment(env: Mapping[str, str]) -> str:
    items = [f"{k}={v}".replace('"', '""').replace("'", "''") for k, v in sorted(env.items())]
    return '"' + " ".join(f"'{i}'" if " " in i else i for i in items) + '"'


def classad_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_secrets(argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """(argv without the secret `-param_<NAME> value` pairs, those secrets by name)."""
    names = {f"-param_{name}": name for name in SECRET_PARAMS}
    kept: list[str] = []
    secrets: dict[str, str] = {}
    i = 0
    while i < len(argv):
        if argv[i] in names and i + 1 < len(argv):
            secrets[names[argv[i]]] = argv[i + 1]
            i += 2
            continue
        kept.append(argv[i])
        i += 1
    return kept, secrets


def check_literal(pilot_id: str, what: str, value: str) -> None:
    """SubmitError when `value` would be macro-expanded by HTCondor's submit language."""
    if "$" in value:
        raise SubmitError(
            f"pilot {pilot_id}: {what} holds '$', which HTCondor's submit language would expand; "
            "pilot not submitted"
        )


def batch_key(spec: PilotSpec) -> tuple[Any, ...]:
    """Pilots with equal keys share one submit description (they differ only in id and arguments)."""
    return (
        spec.client,
        tuple(sorted(spec.env.items())),
        spec.cpus,
        spec.memory_mb,
        tuple(sorted(spec.labels.items())),
        tuple(spec.argv[:2]),
    )


def description(spec: PilotSpec, params: Any, log_dir: Path, token_file: str | None) -> dict[str, str]:
    """The submit commands shared by `spec`'s batch; per-pilot values are `$(GlideinPilot)` and
    `$(GlideinArgs)` (see `items`)."""
    resource = str(params.grid_resource)
    kind = grid_type(resource)
    desc: dict[str, str] = {
        "universe": "grid",
        "grid_resource": resource,
        "executable": spec.argv[1] if len(spec.argv) > 1 else spec.argv[0],
        "transfer_executable": "True",
        "arguments": f"$({ITEM_ARGS})",
        "initialdir": str(log_dir),
        "output": str(log_dir / f"$({ITEM_PILOT}).out"),
        "error": str(log_dir / f"$({ITEM_PILOT}).err"),
        "log": str(log_dir / "condor.log"),
        "notification": "Never",
        "should_transfer_files": "YES",
        "when_to_transfer_output": "ON_EXIT_OR_EVICT",
        "transfer_input_files": f"$({ITEM_PILOT}).params",
    }
    for key, value in spec.env.items():
        check_literal(spec.pilot_id, f"environment {key}", f"{key}={value}")
    if spec.env:
        desc["environment"] = quote_environment(spec.env)
    desc.update(resource_request(kind, spec, params))
    if token_file and kind in TOKEN_GRID_TYPES:  # the CE credential, the HTCondor way
        desc["use_scitokens"] = "true"
        desc["scitokens_file"] = token_file
    desc["+GlideinPilotId"] = f'"$({ITEM_PILOT})"'
    desc["+GlideinEntryName"] = classad_string(spec.entry)
    desc["+GlideinClient"] = classad_string(spec.client)
    for key, value in sorted(spec.labels.items()):
        check_literal(spec.pilot_id, f"label {key}", value)
        desc[f"+Glidein{key}"] = classad_string(value)
    desc.update(getattr(params, "submit_attrs", {}))  # the operator's own: macros allowed
    return desc


_CPU_KEYS = {"+xcount", "request_cpus", "requestcpus"}  # submit commands are case-insensitive
_MEMORY_KEYS = {"+maxmemory", "request_memory", "requestmemory"}


def resource_request(kind: str, spec: PilotSpec, params: Any) -> dict[str, str]:
    """Cores and memory the pilot asks the site for: `+xcount`/`+maxMemory` for an HTCondor-CE's
    job router, `request_cpus`/`request_memory` for ARC and batch; never what the operator's
    `submit_attrs` already ask for, and no cores without `cpus_from_attrs` (imported entries:
    glideinWMS asks only through submit_attrs)."""
    own = {key.lower() for key in getattr(params, "submit_attrs", {})}
    cpus_key, memory_key = (
        ("+xcount", "+maxMemory") if kind == "condor" else ("request_cpus", "request_memory")
    )
    out: dict[str, str] = {}
    wanted = kind == "condor" or spec.cpus > 1 or spec.memory_mb > 0
    if getattr(params, "cpus_from_attrs", True) and wanted and not own & _CPU_KEYS:
        out[cpus_key] = str(spec.cpus)
    if spec.memory_mb and not own & _MEMORY_KEYS:
        out[memory_key] = str(spec.memory_mb)
    return out


def item(spec: PilotSpec) -> tuple[dict[str, str], dict[str, str]]:
    """(the pilot's item data, its secrets and report token: its `-param_file`) for a batch description."""
    argv, secrets = split_secrets(list(spec.argv[2:]))
    argv = with_param_file(argv, f"{spec.pilot_id}.params")
    secrets |= spec.secrets
    for value in [spec.pilot_id, *argv]:
        check_literal(spec.pilot_id, "argument", value)
    return {ITEM_PILOT: spec.pilot_id, ITEM_ARGS: quote_arguments(argv)}, secrets


def submit_text(desc: Mapping[str, str], items: Sequence[Mapping[str, str]]) -> str:
    """The whole submit file (what `condor_submit` would read) of one batch."""
    lines = [f"{k} = {v}\n" for k, v in desc.items()]
    rows = "".join(f"{i[ITEM_PILOT]} {i[ITEM_ARGS]}\n" for i in items)
    return "".join(lines) + f"queue {ITEM_PILOT},{ITEM_ARGS} from (\n{rows})\n"


def statuses_from_ads(ads: Sequence[Mapping[str, Any]]) -> dict[str, BackendStatus]:
    """Job ads (queue or history) -> status by pilot id."""
    out: dict[str, BackendStatus] = {}
    for ad in ads:
        pilot_id = ad.get("GlideinPilotId")
        if not isinstance(pilot_id, str):
            continue
        state = _JOB_STATUS.get(int(ad.get("JobStatus", 1)), S.IDLE)
        code = ad.get("ExitCode")
        exit_code = int(code) if isinstance(code, int) else None
        if state == S.COMPLETED and exit_code not in (None, 0):
            state = S.FAILED
        reason = str(ad.get("HoldReason", "")) if state == S.HELD else ""
        backend = f"{ad.get('ClusterId')}.{ad.get('ProcId', 0)}"
        out[pilot_id] = BackendStatus(pilot_id, state, backend, exit_code, reason)
    return out
