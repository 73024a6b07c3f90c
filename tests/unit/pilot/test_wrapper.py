"""Pure parts of the wrapper: Python 3.6 syntax, arguments, glidein_config, safe untar."""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.factory.staging import PACKAGE_ROOT
from glidein.pilot_wrapper import glidein_startup as gs

WORKER_NODE_FILES = sorted(
    [
        PACKAGE_ROOT / "pilot_wrapper" / "glidein_startup.py",
        PACKAGE_ROOT / "pilot_wrapper" / "unpack.py",
        PACKAGE_ROOT / "pool" / "cedar.py",
        *(PACKAGE_ROOT / "pilot_wrapper" / "scripts").glob("*.py"),
        *(PACKAGE_ROOT / "pool" / "startd").glob("*.py"),
    ]
)


@pytest.mark.parametrize("path", WORKER_NODE_FILES, ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_worker_node_files_parse_as_python_36(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source, filename=str(path), feature_version=(3, 6))
    assert "from __future__ import annotations" not in source
    imports = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    froms = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0]
    imports |= {(n.module or "").split(".")[0] for n in froms}
    third_party = (
        imports
        - set(__import__("sys").stdlib_module_names)
        - {"glidein", "glidein_checks", "condor_config", "glidein_startup", ""}
    )
    assert not third_party, f"{path.name} imports non-stdlib {third_party}"


# Library features newer than Python 3.6 that ast.parse(feature_version=(3, 6)) cannot see.
NEWER_THAN_36 = (
    "capture_output=",
    "text=True",
    "asyncio.run(",
    "import dataclasses",
    "from dataclasses",
    ".removeprefix(",
    ".removesuffix(",
    "functools.cache",
    "math.prod(",
    "shlex.join(",
    "datetime.fromisoformat(",
    "time.time_ns(",
    "contextlib.nullcontext",
    "subprocess.run(argv, text",
)


@pytest.mark.parametrize("path", WORKER_NODE_FILES, ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_worker_node_files_use_no_library_api_newer_than_36(path: Path) -> None:
    source = path.read_text()
    used = [api for api in NEWER_THAN_36 if api in source]
    assert not used, f"{path.name} uses {used} (Python > 3.6)"


def _argv(**extra: str) -> list[str]:
    base = {"factory": "f", "name": "g", "entry": "e", "web": "http://h", "sign": "ab"}
    base |= {"descript": "d.x.json"} | extra
    out: list[str] = []
    for key, value in base.items():
        out += [f"-{key}", value]
    return out


def test_arguments_and_params() -> None:
    opts, params = gs.parse_args([*_argv(signtype="sha1"), "-param_GLIDEIN_CPUS", "4", "-param_X", "a b"])
    assert opts["signtype"] == "sha1" and opts["hold_time"] == "1200" and opts["retries"] == "3"
    assert params == {"GLIDEIN_CPUS": "4", "X": "a b"}


def test_secret_params_come_from_a_param_file(tmp_path: Path) -> None:
    path = tmp_path / "p1.params"
    path.write_text("GLIDEIN_Token=eyJ.x.y\n\n")
    opts, params = gs.parse_args([*_argv(), "-param_X", "1", "-param_file", str(path)])
    assert params == {"X": "1", "GLIDEIN_Token": "eyJ.x.y"} and "param_file" not in opts
    path.write_text("not a pair\n")
    with pytest.raises(gs.PilotFailure, match="line 1: expected NAME=value"):
        gs.parse_args([*_argv(), "-param_file", str(path)])
    path.write_bytes(b"X=" + b"a" * gs.MAX_PARAM_FILE)
    with pytest.raises(gs.PilotFailure, match="larger than"):
        gs.parse_args([*_argv(), "-param_file", str(path)])
    with pytest.raises(gs.PilotFailure, match="No such file"):
        gs.parse_args([*_argv(), "-param_file", str(tmp_path / "none")])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-factory", "f"], "missing argument -name"),
        ([*_argv(), "-bogus", "1"], "unknown argument -bogus"),
        ([*_argv(), "-v"], "expected -name value"),
        (_argv(signtype="md5"), "-signtype must be sha1 or sha256"),
        (_argv(hold_time="20m"), "-hold_time must be a whole number"),
    ],
)
def test_bad_arguments_are_config_failures(argv: list[str], message: str) -> None:
    with pytest.raises(gs.PilotFailure, match=message) as info:
        gs.parse_args(argv)
    assert info.value.failure_class == "Config"


def test_glidein_config_later_lines_win_and_token_stays_out(tmp_path: Path) -> None:
    opts, params = gs.parse_args([*_argv(), "-param_GLIDEIN_Token", "SECRET", "-param_A", "1"])
    values = gs.initial_config(opts, params, str(tmp_path))
    config = tmp_path / "glidein_config"
    gs.add_config(str(config), values)
    gs.add_config(str(config), {"A": "2", "B": "multi\nline"})
    read = gs.read_config(str(config))
    assert read["A"] == "2" and read["B"] == "multi line" and read["GLIDEIN_Entry_Name"] == "e"
    assert "SECRET" not in config.read_text()
    assert Path(read["GLIDEIN_Token_File"]).read_text() == "SECRET\n"


def _tar(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink:
            link = tarfile.TarInfo(symlink)
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(link)
    return raw.getvalue()


def test_safe_extract_writes_inside_and_refuses_escapes(tmp_path: Path) -> None:
    gs.safe_extract(_tar({"glidein/pool/x.py": b"x = 1\n"}), str(tmp_path / "ok"), "b.tar.gz")
    assert (tmp_path / "ok" / "glidein" / "pool" / "x.py").read_text() == "x = 1\n"
    for bad in (_tar({"../evil": b"!"}), _tar({"/abs/evil": b"!"}), _tar({}, symlink="link")):
        with pytest.raises(gs.PilotFailure, match="unsafe member") as info:
            gs.safe_extract(bad, str(tmp_path / "bad"), "b.tar.gz")
        assert info.value.failure_class == "Corruption"
    assert not (tmp_path / "evil").exists()


def test_signature_listing_parse() -> None:
    pairs = gs.parse_signature(b"# comment\nAB12  description.x.json\ncd34  f.x.py\n", "sig")
    assert pairs == [("description.x.json", "ab12"), ("f.x.py", "cd34")]
    with pytest.raises(gs.PilotFailure, match="line 2"):
        gs.parse_signature(b"ab  d\njunk\n", "sig")
    with pytest.raises(gs.PilotFailure, match="lists no files"):
        gs.parse_signature(b"# only a comment\n", "sig")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _web(root: Path) -> Iterator[str]:
    """`root` served on a loopback port for the duration of the block."""
    handler = functools.partial(_Quiet, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join(5)


def _signed_level(root: Path, entry: dict[str, object]) -> str:
    """A one-file level in `root` (description listing `entry`); the -sign value."""
    (root / "f.py").write_bytes(b"print(1)\n")
    (root / "description.x.json").write_text(json.dumps({"files": [entry]}))
    lines = [
        f"{hashlib.sha256((root / n).read_bytes()).hexdigest()}  {n}" for n in ("description.x.json", "f.py")
    ]
    (root / "signature.x.txt").write_text("\n".join(lines) + "\n")
    return hashlib.sha256((root / "signature.x.txt").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "bad",
    [{"orig": "../../evil.py"}, {"orig": "/tmp/evil.py"}, {"orig": ".."}, {"kind": "untar", "dir": ".."}],
)
def test_signed_names_that_leave_the_work_dir_are_corruption(tmp_path: Path, bad: dict[str, str]) -> None:
    entry = {"name": "f.py", "kind": "exec", "order": 1, **bad}
    sign = _signed_level(tmp_path, entry)
    opts = {"signtype": "sha256", "retries": "0"}
    with _web(tmp_path) as url:
        with pytest.raises(gs.PilotFailure, match="bad file entry") as info:
            gs.load_level("main", (url, sign, "description.x.json"), opts, gs.Reporter({}))
        assert info.value.failure_class == "Corruption"
        entry.update(orig="f.py", dir="")
        sign = _signed_level(tmp_path, entry)
        ((loaded, data),) = gs.load_level("main", (url, sign, "description.x.json"), opts, gs.Reporter({}))
    assert loaded["orig"] == "f.py" and data == b"print(1)\n"


def test_downloads_are_capped(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 5000)
    with _web(tmp_path) as url:
        assert gs.fetch(url + "/big", 0, gs.Reporter({}), limit=5000) == b"x" * 5000
        with pytest.raises(gs.PilotFailure, match="big: larger than 4999 bytes") as info:
            gs.fetch(url + "/big", 3, gs.Reporter({}), limit=4999)
    assert info.value.failure_class == "Corruption"
    assert gs.MAX_LISTING == 16 << 20 and gs.MAX_TARBALL == 2 << 30


def test_download_without_content_length_is_capped_while_reading() -> None:
    class Response:
        def __init__(self) -> None:
            self.headers: dict[str, str] = {}

        def read(self, size: int) -> bytes:
            return b"y" * size  # an endless body

    with pytest.raises(gs.PilotFailure, match="larger than 100 bytes"):
        gs._read_capped(Response(), "http://h/f", 100)


def test_work_dir_keywords_of_glideinwms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch, osg = tmp_path / "scratch", tmp_path / "osg"
    scratch.mkdir()
    osg.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("_CONDOR_SCRATCH_DIR", str(scratch))
    monkeypatch.setenv("OSG_WN_TMP", str(osg))
    assert (gs.work_base("Condor"), gs.work_base("OSG"), gs.work_base("AUTO")) == (
        str(scratch),
        str(osg),
        str(scratch),
    )
    monkeypatch.setenv("_CONDOR_SCRATCH_DIR", str(tmp_path / "gone"))  # not a directory: the next one
    assert gs.work_base("AUTO") == str(osg)
    monkeypatch.delenv("OSG_WN_TMP")
    assert gs.work_base("OSG") == str(tmp_path)  # unset: the batch job's own directory
    assert gs.work_base("/data/pilots") == "/data/pilots" and gs.work_base(".") == str(tmp_path)


def test_proxy_url_of_glideinwms_gives_the_downloads_their_http_proxy() -> None:
    osg = {"OSG_SQUID_LOCATION": "squid.site.example.edu:3128"}
    assert gs.http_proxy("OSG", osg) == "http://squid.site.example.edu:3128"
    assert gs.http_proxy("OSG", {"OSG_SQUID_LOCATION": "UNAVAILABLE"}) is None
    assert gs.http_proxy("http://squid.example.org:3128", {}) == "http://squid.example.org:3128"
    assert [gs.http_proxy(v, osg) for v in ("", "None", "auto")] == [None, None, None]
