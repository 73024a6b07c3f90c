"""Submit commands beyond plain attributes: arguments and environment as condor_submit stores them,
file transfer, getenv and notification (honoured or refused, never ignored), and the warning
condor_submit gives for a line nothing uses ("Is it a typo?").

Arguments and environment: the new syntax (value in double quotes) is stored without its outer
quotes, `""` made `"`, as `Arguments` / `Environment`; the old syntax as `Args` / `Env`
(condor_submit does the same). A double quote inside old-syntax arguments is an error there too.
"""

from __future__ import annotations

import shlex

from glidein.common import classads
from glidein.common.errors import SubmitError
from glidein.pool.schedd.submit_text import ScannedSubmit, macro_names
from glidein.pool.startd.v2args import join_v2, split_v2

# commands translated into job attributes or otherwise honoured (lower case)
HONOURED = frozenset(
    {
        "executable", "arguments", "args", "environment", "env", "input", "output", "error", "log",
        "initialdir", "initial_dir", "transfer_input_files", "transfer_executable", "request_cpus",
        "request_memory", "request_disk", "request_gpus", "requirements", "rank", "priority",
        "universe", "accounting_group", "should_transfer_files", "when_to_transfer_output", "getenv",
        "notification", "notify_user",
    }
)  # fmt: skip
# HTCondor submit commands glidein submit does not act on: a warning names them
UNSUPPORTED = frozenset(
    {
        "stream_output", "stream_error", "periodic_remove", "periodic_hold", "periodic_release",
        "on_exit_remove", "on_exit_hold", "max_retries", "retry_until", "job_max_vacate_time",
        "allowed_execute_duration", "allowed_job_duration", "want_graceful_removal", "leave_in_queue",
        "next_job_start_delay", "batch_name", "job_lease_duration", "hold", "transfer_output_files",
        "transfer_output_remaps", "output_destination", "x509userproxy", "use_x509userproxy",
        "docker_image", "container_image", "concurrency_limits", "coresize", "nice_user",
        "copy_to_spool", "image_size", "kill_sig", "load_profile", "run_as_owner", "description",
        "max_idle", "max_materialize", "request_walltime", "use_oauth_services", "encrypt_input_files",
        "encrypt_output_files", "dont_encrypt_input_files", "dont_encrypt_output_files",
        "preserve_relative_paths",
    }
)  # fmt: skip


def _new_syntax(value: str, where: str, key: str) -> str:
    """The canonical V2 text inside `"..."` (`""` -> `"`, as condor_submit stores it: `a 'b c'` ->
    `a b' 'c`); SubmitError on an unbalanced quote."""
    text = value.strip()
    if len(text) < 2 or not text.endswith('"'):
        raise SubmitError(f"{where}: {key}: unterminated double quote in {text[:60]!r}")
    inner = text[1:-1]
    if '"' in inner.replace('""', ""):
        raise SubmitError(f'{where}: {key}: a double quote inside "..." must be doubled: {text[:60]!r}')
    try:
        return join_v2(split_v2(inner.replace('""', '"')))
    except ValueError:
        raise SubmitError(f"{where}: {key}: unterminated single quote in {text[:60]!r}") from None


def arguments(value: str, where: str, key: str) -> list[tuple[str, str]]:
    text = value.strip()
    if text.startswith('"'):
        return [("Arguments", classads.quote(_new_syntax(text, where, key)))]
    if '"' in text:
        raise SubmitError(
            f"{where}: {key}: double quote in old-syntax arguments {text[:60]!r} "
            '(write the whole value in double quotes, with "" for a quote)'
        )
    return [("Args", classads.quote(text))]


def environment(value: str, where: str, key: str) -> list[tuple[str, str]]:
    text = value.strip()
    if text.startswith('"'):
        return [("Environment", classads.quote(_new_syntax(text, where, key)))]
    if '"' in text:
        raise SubmitError(f"{where}: {key}: double quote in old-syntax environment {text[:60]!r}")
    if ";" not in text or "'" in text:  # the startd splits it like a shell then
        try:
            shlex.split(text)
        except ValueError:
            raise SubmitError(f"{where}: {key}: unterminated single quote in {text[:60]!r}") from None
    return [("Env", classads.quote(text))]


def should_transfer(value: str, where: str) -> list[tuple[str, str]]:
    word = value.strip().upper()
    if word in {"YES", "IF_NEEDED"}:
        return [("ShouldTransferFiles", classads.quote(word))]
    if word == "NO":
        raise SubmitError(
            f"{where}: should_transfer_files: NO is not supported: the embedded startd always "
            "transfers the executable, inputs and outputs (no shared file system)"
        )
    raise SubmitError(f"{where}: should_transfer_files: expected YES, IF_NEEDED or NO, got {value!r}")


def when_to_transfer(value: str, where: str) -> list[tuple[str, str]]:
    if value.strip().upper() != "ON_EXIT":
        raise SubmitError(f"{where}: when_to_transfer_output: only ON_EXIT is supported, got {value!r}")
    return [("WhenToTransferOutput", '"ON_EXIT"')]


def getenv(value: str, where: str) -> list[tuple[str, str]]:
    if value.strip().lower() in {"false", "no", "0", ""}:
        return []
    raise SubmitError(
        f"{where}: getenv: {value.strip()[:40]!r} is not supported: the schedd cannot see your "
        "environment; name the variables in 'environment = ...'"
    )


def notification(value: str, where: str) -> list[tuple[str, str]]:
    if value.strip().lower() == "never":
        return [("JobNotification", "0")]
    raise SubmitError(
        f"{where}: notification: {value.strip()[:40]!r} is not supported: glidein sends no e-mail "
        "(use 'notification = never' or leave it out)"
    )


def unused_warnings(scanned: ScannedSubmit) -> list[str]:
    """condor_submit's warning for each line no command uses: not a known command, not `+Attr` /
    `MY.Attr`, and not referenced as a macro by any line or queue statement."""
    seen: dict[int, tuple[str, str]] = {}
    referenced: set[str] = set()
    for stmt in scanned.queues:
        referenced |= {name.lower() for name in macro_names(stmt.args)}
        for cmd in stmt.commands:
            seen[cmd.line] = (cmd.key, cmd.value)
            referenced |= {name.lower() for name in macro_names(cmd.value)}
    warnings: list[str] = []
    for line, (key, value) in sorted(seen.items()):
        low = key.lower()
        if low.startswith("my.") or low in HONOURED or low in referenced:
            continue
        if low in UNSUPPORTED:
            warnings.append(
                f"WARNING: {scanned.where(line)}: '{key}' is an HTCondor submit command that glidein "
                "submit does not support: ignored"
            )
            continue
        warnings.append(
            f"WARNING: the line '{key} = {value}' was unused by glidein submit. Is it a typo? "
            f"({scanned.where(line)})"
        )
    return warnings
