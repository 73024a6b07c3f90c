"""`glidein config check` on hostile configs: one line per problem naming the file, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.procs import run_glidein

ETC = Path(__file__).resolve().parents[2] / "etc"
MARKER = Path("/tmp/glidein-config-check-marker")


def test_config_check_refuses_hostile_files_in_one_line_each(tmp_path: Path) -> None:
    MARKER.unlink(missing_ok=True)
    example = (ETC / "frontend.yaml").read_text()
    cases = {
        "tag.yaml": f"!!python/object/apply:os.system ['touch {MARKER}']\n",
        "deep.yaml": "groups: " + "[" * 5000 + "]" * 5000 + "\n",
        "laughs.yaml": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
        ),
        "digits.yaml": example.replace("groups:", "max_idle: " + "9" * 5000 + "\ngroups:", 1),
        "binary.yaml": None,
        "swapped.yaml": example.replace("groups:", "groups: 17\nold_groups:", 1),
    }
    paths = []
    for name, text in cases.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes(b"\xff\xfe\x00" + bytes(range(256)))
        else:
            path.write_text(text)
        paths.append(str(path))
    result = run_glidein(["config", "check", "--kind", "frontend", *paths], timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and not MARKER.exists()
    lines = result.stderr.splitlines()
    assert lines and all(any(line.startswith(f"{path}: ") for path in paths) for line in lines), lines
    assert {line.split(": ", 1)[0] for line in lines} == set(paths), lines
