"""The submit language -> job attributes: units, defaults, macros, queue forms, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidein.common.errors import SubmitError
from glidein.pool.schedd.submit import ParsedCluster, SubmitContext, parse_submit


def _parse(text: str, iwd: Path, cluster: int = 7) -> ParsedCluster:
    return parse_submit(text, SubmitContext("t.sub", str(iwd), cluster, check_files=False))


def _job(parsed: ParsedCluster, proc: int) -> dict[str, str]:
    return {**parsed.common, **parsed.procs[proc]}


def test_defaults_units_and_attributes(tmp_path: Path) -> None:
    parsed = _parse(
        "universe = vanilla\nexecutable = bin/run\nrequest_memory = 2GB\nrequest_disk = 3 MB\n"
        'request_cpus = 4\npriority = 5\nrank = TARGET.Memory\n+Site = "A"\nMY.Weight = 1.5\nqueue\n',
        tmp_path,
    )
    job = _job(parsed, 0)
    assert job["Cmd"] == f'"{tmp_path}/bin/run"'
    assert (job["RequestMemory"], job["RequestDisk"], job["RequestCpus"]) == ("2048", "3072", "4")
    assert (job["JobPrio"], job["Rank"], job["Site"], job["Weight"]) == ("5", "TARGET.Memory", '"A"', "1.5")
    assert (job["RequestGPUs"], job["Requirements"], job["JobUniverse"]) == ("0", "true", "5")
    assert job["Iwd"] == f'"{tmp_path}"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [("512", "512"), ("512M", "512"), ("1.5GB", "1536"), ("100KB", "1"), ("1T", "1048576")],
)
def test_memory_units(tmp_path: Path, value: str, expected: str) -> None:
    assert (
        _parse(f"executable = x\nrequest_memory = {value}\nqueue\n", tmp_path).common["RequestMemory"]
        == expected
    )


def test_process_and_cluster_macros_vary_per_job_only_where_used(tmp_path: Path) -> None:
    parsed = _parse(
        "executable = x\nbase = out\narguments = $(Process) of $(Cluster)\n"
        "output = $(base).$(ProcId)\nqueue 3\n",
        tmp_path,
        cluster=12,
    )
    assert "Args" not in parsed.common and "Cmd" in parsed.common
    assert [p["Args"] for p in parsed.procs] == ['"0 of 12"', '"1 of 12"', '"2 of 12"']
    assert parsed.procs[2]["Out"] == f'"{tmp_path}/out.2"'


def test_queue_in_from_inline_from_file_and_matching(tmp_path: Path) -> None:
    (tmp_path / "items.txt").write_text("p 1\nq 2\n")
    for name in ("a.dat", "b.dat", "c.txt"):
        (tmp_path / name).write_text("")
    parsed = _parse(
        "executable = x\narguments = $(x)\nqueue x in (red, green)\n"
        "arguments = $(a)-$(b)\nqueue a,b from (\n1 2\n3 4\n)\n"
        "arguments = $(a)+$(b)\nqueue a b from items.txt\n"
        "arguments = $(f)\nqueue 2 f matching *.dat\n",
        tmp_path,
    )
    args = [p["Args"] for p in parsed.procs]
    assert args == [
        '"red"',
        '"green"',
        '"1-2"',
        '"3-4"',
        '"p+1"',
        '"q+2"',
        '"a.dat"',
        '"a.dat"',
        '"b.dat"',
        '"b.dat"',
    ]


def test_settings_between_queue_statements_apply_to_later_jobs(tmp_path: Path) -> None:
    parsed = _parse("executable = x\nrequest_cpus = 1\nqueue 1\nrequest_cpus = 2\nqueue 2\n", tmp_path)
    assert [_job(parsed, i)["RequestCpus"] for i in range(3)] == ["1", "2", "2"]


def test_continuation_lines_and_comments(tmp_path: Path) -> None:
    parsed = _parse(
        "# header\nexecutable = x\nrequirements = TARGET.A == 1 && \\\n   TARGET.B == 2\n\nqueue\n", tmp_path
    )
    assert parsed.common["Requirements"] == "TARGET.A == 1 && TARGET.B == 2"


def test_big_plain_queue_is_cheap(tmp_path: Path) -> None:
    parsed = _parse("executable = x\nqueue 200000\n", tmp_path)
    assert len(parsed.procs) == 200000
    assert not any(parsed.procs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("executable = x\nrequest_disk = 10 lots\nqueue\n", "t.sub:2: request_disk: bad size '10 lots'"),
        ("executable = x\nrequest_cpus = 2 +\nqueue\n", "t.sub:2: request_cpus:"),
        (
            "executable = x\ntransfer_executable = maybe\nqueue\n",
            "t.sub:2: transfer_executable: expected true or false",
        ),
        ("arguments = 1\nqueue\n", "t.sub:2: no 'executable'"),
        ("executable = x\nqueue x in ()\n", "t.sub:2: queue:"),
        ("executable = x\nqueue -3\n", "t.sub:2: queue:"),
        ("executable = x\nqueue x from missing.txt\n", "t.sub:2: queue:"),
        ("executable = x\n= 3\nqueue\n", "t.sub:2: expected 'name = value'"),
        (
            "executable = x\nrequirements = 1" + " + 1" * 5000 + "\nqueue\n",
            "t.sub:2: requirements: expression: 5000",
        ),
        ("executable = x\nrequest_cpus = -4\nqueue\n", "t.sub:2: request_cpus: must be 1 to 1048576, got -4"),
        ("executable = x\nrequest_gpus = -1\nqueue\n", "t.sub:2: request_gpus: must be 0 to 1048576"),
        (
            "executable = x\nrequest_cpus = 99999999999999999999\nqueue\n",
            "t.sub:2: request_cpus: must be 1 to",
        ),
        (
            "executable = x\npriority = 99999999999999999999\nqueue\n",
            "t.sub:2: priority: must be -2147483648 to",
        ),
        ("executable = x\nrequest_disk = -1\nqueue\n", "t.sub:2: request_disk: must not be negative"),
        ("executable = x\nrequest_memory = -2GB\nqueue\n", "t.sub:2: request_memory: must not be negative"),
        (
            "executable = x\nrequest_memory = 99999999999999999999T\nqueue\n",
            "t.sub:2: request_memory: larger than",
        ),
        ('executable = x\narguments = "a \'b"\nqueue\n', "t.sub:2: arguments: unterminated single quote"),
        ('executable = x\nargs = "a b\nqueue\n', "t.sub:2: args: unterminated double quote"),
        ('executable = x\nargs = a b "c d"\nqueue\n', "t.sub:2: args: double quote in old-syntax"),
        ('executable = x\narguments = "a "b" c"\nqueue\n', "t.sub:2: arguments: a double quote inside"),
        ('executable = x\nenvironment = "A=\'x"\nqueue\n', "t.sub:2: environment: unterminated single quote"),
        ("executable = x\nenv = A='x B=1\nqueue\n", "t.sub:2: env: unterminated single quote"),
        ("executable = x\nshould_transfer_files = NO\nqueue\n", "t.sub:2: should_transfer_files: NO is not"),
        ("executable = x\ngetenv = true\nqueue\n", "t.sub:2: getenv: 'true' is not supported"),
        ("executable = x\nnotification = Complete\nqueue\n", "t.sub:2: notification: 'Complete' is not"),
        (
            "executable = x\narguments = $(Process) 'x\nqueue 2\narguments = \"$(Process) 'x\"\nqueue\n",
            "t.sub:4: arguments: unterminated",
        ),
    ],
)
def test_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SubmitError) as info:
        _parse(text, tmp_path)
    assert message in str(info.value)


def test_quoted_arguments_and_environment_and_zero_requests_are_kept(tmp_path: Path) -> None:
    job = _job(
        _parse(
            'executable = x\narguments = "a \'b c\' ""q"""\nenvironment = "A=1 B=\'x y\'"\n'
            "request_gpus = 0\nrequest_disk = 0\npriority = -5\nqueue\n",
            tmp_path,
        ),
        0,
    )
    assert (job["RequestGPUs"], job["RequestDisk"], job["JobPrio"]) == ("0", "1", "-5")
    # stored as condor_submit stores them: the new syntax without its outer quotes, "" made "
    assert job["Arguments"] == '"a b\' \'c \\"q\\""' and "Args" not in job  # condor_submit's canonical form
    assert job["Environment"] == "\"A=1 B=x' 'y\"" and "Env" not in job


def test_missing_input_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "exe").write_text("")
    text = "executable = exe\ntransfer_input_files = here.txt, gone.txt\nqueue\n"
    (tmp_path / "here.txt").write_text("")
    with pytest.raises(SubmitError, match=r"t\.sub:2: transfer_input_files: no such file .*gone\.txt"):
        parse_submit(text, SubmitContext("t.sub", str(tmp_path), 1))


def test_unused_lines_are_warned_about_like_condor_submit(tmp_path: Path) -> None:
    parsed = _parse(
        "executable = x\nrequirments = TARGET.Memory > 1\nbase = out\noutput = $(base).txt\n"
        'stream_output = true\n+Project = "p"\nqueue\n',
        tmp_path,
    )
    assert parsed.warnings == [
        "WARNING: the line 'requirments = TARGET.Memory > 1' was unused by glidein submit. Is it a typo? "
        "(t.sub:2)",
        "WARNING: t.sub:5: 'stream_output' is an HTCondor submit command that glidein submit does not "
        "support: ignored",
    ]  # `base` is used by `output`, +Project is an attribute: no warning for them


def test_transfer_notification_and_old_syntax_are_stored_as_condor_submit_does(tmp_path: Path) -> None:
    job = _job(
        _parse(
            "executable = x\narguments = a 'b c'\nenvironment = A=1;B=2\nshould_transfer_files = if_needed\n"
            "when_to_transfer_output = ON_EXIT\ngetenv = false\nnotification = Never\nqueue\n",
            tmp_path,
        ),
        0,
    )
    assert (job["Args"], job["Env"]) == ("\"a 'b c'\"", '"A=1;B=2"')
    assert (job["ShouldTransferFiles"], job["WhenToTransferOutput"]) == ('"IF_NEEDED"', '"ON_EXIT"')
    assert job["JobNotification"] == "0" and "GetEnv" not in job
