"""Data location by dataset name on the real condor_schedd: the JOB_TRANSFORM that `glidein
closeness transform` prints for the example catalogue, added to the schedd's config and
reconfigured, gives a job submitted with only `+GLIDEIN_Datasets` (etc/closeness/job-datasets.sub)
the bandwidth expression and SEs of the idiom (etc/closeness/job.sub), with the same values at
every source of the example matrix.
"""

from __future__ import annotations

from pathlib import Path

from glidein.common import classads
from glidein.common.closeness import load_matrix, se_attr
from glidein.pool.condor.personal import CondorPool
from tests.procs import run_glidein, wait_for

EXAMPLES = Path(__file__).resolve().parents[3] / "etc" / "closeness"
IDIOM_BW = "max({TARGET.GLIDEIN_BW_se1_cern_ch ?: 0, TARGET.GLIDEIN_BW_se2_desy_de ?: 0})"  # job.sub's


def _transform_on(pool: CondorPool) -> bool:
    names = pool.tool("condor_config_val", "-schedd", "JOB_TRANSFORM_NAMES", timeout=20)
    return "GlideinData" in names.split()


def _submit(pool: CondorPool, job_dir: Path, text: str) -> str:
    (job_dir / "analyse.sh").write_text("#!/bin/sh\nexit 0\n")
    (job_dir / "analyse.sh").chmod(0o755)
    (job_dir / "job.sub").write_text(text)
    out = pool.tool("condor_submit", "-terse", "job.sub", cwd=job_dir)
    return out.split()[0].split(".")[0]  # "12.0 - 12.9" -> "12"


def test_schedd_transform_resolves_datasets_through_the_catalogue(
    users_pool: CondorPool, job_dir: Path
) -> None:
    done = run_glidein(["closeness", "transform", "--catalogue", str(EXAMPLES / "catalogue.yaml")])
    assert done.returncode == 0, done.stderr
    plain = _submit(users_pool, job_dir, (EXAMPLES / "job-datasets.sub").read_text())
    untouched = users_pool.tool("condor_q", plain, "-af", "GLIDEIN_Data_BW", timeout=20).split()
    assert set(untouched) == {"undefined"}  # without the transform nothing resolves the dataset
    with users_pool.spec.config_path.open("a") as config:
        config.write("\n" + done.stdout)
    users_pool.tool("condor_reconfig", "-schedd", timeout=30)
    wait_for(lambda: _transform_on(users_pool), timeout=30, interval=0.5)

    cluster = _submit(users_pool, job_dir, (EXAMPLES / "job-datasets.sub").read_text())
    rows = users_pool.tool("condor_q", cluster, "-af:r", "GLIDEIN_Data_SEs", "GLIDEIN_Data_BW", timeout=20)
    assert len(rows.splitlines()) == 10
    ses, expr = rows.splitlines()[0].split(" ", 1)
    assert ses == '"se1.cern.ch,se2.desy.de"'
    job = classads.from_dict({"GLIDEIN_Datasets": "/store/data/Run2024A"})
    matrix = load_matrix(str(EXAMPLES / "bandwidth.yaml"))
    for source, row in matrix.rows.items():
        target = classads.from_dict({se_attr(se): mbps for se, mbps in row.items()})
        assert classads.evaluate(expr, job, target) == classads.evaluate(IDIOM_BW, job, target), source
    own = "max({TARGET.GLIDEIN_BW_se2_desy_de ?: 0})"  # a job with its own expression keeps it
    text = (EXAMPLES / "job-datasets.sub").read_text().replace("queue 10", f"+GLIDEIN_Data_BW = {own}\nqueue")
    kept = _submit(users_pool, job_dir, text)
    printed = users_pool.tool("condor_q", kept, "-af:r", "GLIDEIN_Data_BW", timeout=20)
    assert printed.replace(" ", "").strip() == own.replace(" ", "")
    users_pool.tool("condor_rm", plain, cluster, kept, timeout=30)
