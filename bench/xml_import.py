"""Import a production glideinWMS factory config (config.d with 1,000+ entries) and check the result.

Prints what `glidein config import-xml` and `glidein config check` cost on it (best of 3, wall and
CPU seconds), the entries kept and the problems found. The config is, in order: the path given
(a directory of config.d files, or a main glideinWMS.xml with config.d/ beside it), the public
OSG factory config if its mirror is on this machine, else one generated here with the same shape
(1,059 entries, the same mix of grid types and attributes), so `make bench` always runs.
Run: .venv/bin/python bench/xml_import.py [PATH | --generated]
"""

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from glidein.common.config import load_factory_config
from glidein.common.config.factory import FactoryConfig
from glidein.common.config.loader import validate
from glidein.common.config.xml_import import ImportResult, config_d_files, import_fragments, import_xml

MIRROR = Path("/work/.mirror/opensciencegrid+osg-gfactory/repo")
RUNS = 3
# (gridtype, entries, enabled share) as in the public factory config (1,058 entries, one more condor)
MIX = [
    ("condor", 645, 0.55),
    ("cream", 143, 0.0),
    ("arc", 147, 0.8),
    ("nordugrid", 92, 0.3),
    ("gt2", 16, 0.0),
    ("gt5", 9, 0.0),
    ("batch slurm", 5, 0.0),
    ("ec2", 2, 0.0),
]
SUBMIT = {
    "condor": [("+xcount", "8"), ("+maxMemory", "16000"), ("+maxWallTime", "2880")],
    "arc": [
        ("request_cpus", "8"),
        ("request_memory", "2000"),
        ("batch_queue", "grid"),
        ("arc_rte", "ENV/GLITE"),
    ],
    "batch slurm": [("+NodeNumber", "2"), ("+remote_queue", '"regular"')],
}
RSL = {
    "nordugrid": "(queue=grid)(count=8)(memory=2000)(walltime=2880)(runtimeenvironment=ENV/GLITE)",
    "cream": "WholeNodes = False; HostNumber = 1; CPUNumber = 8",
    "gt2": "(queue=default)(jobtype=single)",
    "gt5": "(queue=long)(jobtype=single)",
}


def timed(func: Callable[[], object]) -> tuple[float, float, object]:
    """(best wall seconds, its CPU seconds, the last result) over RUNS runs."""
    best = (float("inf"), 0.0)
    result: object = None
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        result = func()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best[0], best[1], result


def _attr(
    name: str, value: str, kind: str = "string", flags: str = 'glidein_publish="True" job_publish="True"'
) -> str:
    rest = f'parameter="True" publish="True" type="{kind}" value="{value}"'
    return f'<attr name="{name}" const="True" {flags} {rest}/>'


def generated_entry(index: int, gridtype: str, enabled: bool) -> str:
    """One entry shaped like the public config's: limits, 11 attrs, submit attrs, refs, comments."""
    kind = gridtype.split(maxsplit=1)[0]
    host = f"ce{index:04d}.site{index % 97:02d}.example.org"
    gatekeeper = {"condor": f"{host} {host}:9619", "batch": f"pilot@{host}"}.get(kind, host)
    extra = f' rsl="{RSL[kind]}"' if kind in RSL else ""
    extra += ' proxy_url="OSG"' if index % 4 == 0 else ""
    extra += f' comment="entry {index} created on request --ops"' if index % 4 != 3 else ""
    submit = "".join(f'<submit_attr name="{n}" value="{v}"/>' for n, v in SUBMIT.get(kind, []))
    attrs = "".join(
        [
            _attr("GLIDEIN_Site", f"Site{index % 97}"),
            _attr("GLIDEIN_ResourceName", f"RES_{index % 97}"),
            _attr("GLIDEIN_Country", "US"),
            _attr("GLIDEIN_CPUS", "auto" if index % 12 == 0 else "8", flags='job_publish="True"'),
            _attr("GLIDEIN_MaxMemMBs", "16000", "int", 'job_publish="True"'),
            _attr("GLIDEIN_Max_Walltime", "171000", "int", ""),
            _attr("GLIDEIN_Supported_VOs", "CMS", flags=""),
            _attr("GLEXEC_BIN", "NONE", flags=""),
            _attr("GLIDEIN_REQUIRED_OS", "any", flags='glidein_publish="True"'),
            _attr("GLIDEIN_CMSSite", f"T2_US_Site{index % 97}"),
            _attr("STARTD_DEBUG", "$(STARTD_DEBUG) D_SECURITY", "expr", "") if index % 50 == 0 else "",
        ]
    )
    refs = f'<infosys_ref ref="{host}" server="bdii.example.org" type="BDII"/>' if index % 4 == 1 else ""
    groups = f'<monitorgroup group_name="G{index % 7}"/>' if index % 17 == 0 else ""
    factories = ' num_factories="2"' if index % 117 == 0 else ""
    return (
        f'<entry name="GEN_{index:04d}" auth_method="scitoken" enabled="{enabled}" gatekeeper="{gatekeeper}"'
        f' gridtype="{gridtype}" trust_domain="grid" verbosity="std" work_dir="Condor"{extra}><config>'
        f'<max_jobs{factories}><default_per_frontend glideins="5000" held="50" idle="100"/>'
        '<per_entry glideins="10000" held="1000" idle="4000"/><per_frontends/></max_jobs>'
        '<release max_per_cycle="20" sleep="0.2"/><remove max_per_cycle="5" sleep="0.2"/>'
        '<restrictions require_glidein_glexec_use="False" require_voms_proxy="False"/>'
        '<submit cluster_size="10" max_per_cycle="10" sleep="2" slots_layout="fixed">'
        f"<submit_attrs>{submit}</submit_attrs></submit></config><allow_frontends/><attrs>{attrs}</attrs>"
        f"<files/><infosys_refs>{refs}</infosys_refs><monitorgroups>{groups}</monitorgroups></entry>\n"
    )


def generated_fragments() -> list[tuple[bytes, str]]:
    entries = []
    for gridtype, count, share in MIX:
        entries += [(gridtype, i < count * share) for i in range(count)]
    files: list[tuple[bytes, str]] = []
    for part in range(0, len(entries), 100):  # config.d files of 100 entries
        body = "".join(generated_entry(part + i, g, e) for i, (g, e) in enumerate(entries[part : part + 100]))
        files.append(
            (f"<glidein><entries>\n{body}</entries></glidein>\n".encode(), f"{part // 100:02d}-gen.xml")
        )
    return files


def public_fragments(tmp: Path) -> list[tuple[bytes, str]] | None:
    """The public OSG factory config.d, exported from its mirror (a bare git repository)."""
    if not MIRROR.is_dir():
        return None
    archive = subprocess.run(
        ["git", "-C", str(MIRROR), "archive", "HEAD", "*.xml"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    return [(p.read_bytes(), str(p)) for p in sorted(tmp.glob("*.xml"))]


def importer(path: Path | None, tmp: Path, generate: bool) -> tuple[str, Callable[[], ImportResult]]:
    if path is not None and path.is_dir():
        files = [(p.read_bytes(), str(p)) for p in sorted(path.glob("*.xml"))]
        return str(path), lambda: import_fragments(files)
    if path is not None:
        main = (path.read_bytes(), str(path))
        rest = [(p.read_bytes(), str(p)) for p in config_d_files(path)]
        return str(path), lambda: import_xml(*main, rest)
    public = None if generate else public_fragments(tmp)
    if public:
        return f"public OSG factory config ({MIRROR})", lambda: import_fragments(public)
    generated = generated_fragments()
    return "generated config of the public one's shape", lambda: import_fragments(generated)


def main() -> None:
    args = sys.argv[1:]
    path = Path(args[0]) if args and args[0] != "--generated" else None
    with tempfile.TemporaryDirectory() as tmp:
        what, convert = importer(path, Path(tmp), "--generated" in args)
        out = Path(tmp) / "factory.yaml"

        def import_and_write() -> ImportResult:  # what `glidein config import-xml -o` does
            result = convert()
            out.write_text(result.to_yaml())
            validate(FactoryConfig, result.data, str(out), out.parent, {})
            return result

        def check() -> tuple[FactoryConfig, list[object]]:  # what `glidein config check` does
            config = load_factory_config(out)
            return config, [*config.problems(), *config.warnings()]

        wall, cpu, result = timed(import_and_write)
        assert isinstance(result, ImportResult)
        print(f"config: {what}")
        print(f"import-xml: {wall:.2f} s ({cpu:.2f} s CPU), {out.stat().st_size / 1e6:.1f} MB YAML")
        wall, cpu, checked = timed(check)
        config, warnings = checked  # type: ignore[misc]
        print(f"config check: {wall:.2f} s ({cpu:.2f} s CPU): 0 errors, {len(warnings)} warnings")
        entries = config.all_entries()
        enabled = sum(1 for entry in entries if entry.enabled)
        print(f"entries: {len(entries)} kept ({enabled} enabled)")
        dropped, unmapped = len(result.dropped), len(result.unmapped_summary)
        print(f"summary: {dropped} kinds dropped or changed, {unmapped} not mapped")


if __name__ == "__main__":
    main()
