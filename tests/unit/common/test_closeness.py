"""The bandwidth matrix, the catalogue and the job's closeness idiom, evaluated by classad2."""

from __future__ import annotations

from pathlib import Path

import pytest

from glidein.common import classads
from glidein.common.classad_match import match_with_rank
from glidein.common.closeness import (
    catalogue_bw_expr,
    catalogue_ses_expr,
    data_bw_expr,
    job_attrs,
    load_catalogue,
    load_matrix,
    parse_matrix,
    resolve,
    se_attr,
    submit_lines,
    transform_text,
)
from glidein.common.errors import ConfigError


def test_matrix_rows_by_most_specific_source(tmp_path: Path) -> None:
    path = tmp_path / "bw.yaml"
    path.write_text("SiteA: {se1.cern.ch: 120, se2: 35.5}\nce1.example.org: {se1.cern.ch: 8}\n")
    matrix = load_matrix(str(path))
    assert matrix.bandwidths(["entryX", "ce1.example.org", "SiteA"]) == {"se1.cern.ch": 8.0}
    assert matrix.bandwidths(["entryX", "", "SiteA"]) == {"se1.cern.ch": 120.0, "se2": 35.5}
    assert matrix.bandwidths(["nowhere"]) == {}
    assert se_attr("se1.cern.ch") == "GLIDEIN_BW_se1_cern_ch"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SiteA: {se1: fast}", r"bw.yaml: SiteA.se1: bandwidth must be a number >= 0"),
        ("SiteA: {se1: -3}", r"SiteA.se1: bandwidth must be a number >= 0"),
        ("SiteA: {se.1: 3, se_1: 4}", r"SiteA.se_1: same attribute GLIDEIN_BW_se_1 as SE 'se.1'"),
        ("SiteA: [se1]", r"bw.yaml: SiteA: must be a mapping"),
        ("SiteA: {se1: [", r"bw.yaml: not YAML/JSON"),
    ],
)
def test_bad_matrix_is_refused_naming_the_place(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_matrix(str(path))


def test_unreadable_source_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.yaml: cannot read"):
        load_matrix(str(tmp_path / "missing.yaml"))


def test_catalogue_resolves_datasets_and_keeps_plain_ses(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text("/store/run1: [se1, se2]\n/store/run2: se2\n")
    catalogue = load_catalogue(str(path))
    assert resolve(catalogue, ["/store/run1", "/store/run2", "se9"]) == ["se1", "se2", "se9"]
    path.write_text("/store/run1: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"catalogue.yaml: /store/run1: must list SE names"):
        load_catalogue(str(path))


def _job(ses: list[str], min_mbps: float) -> classads.ClassAd:
    values: dict[str, object] = {n: classads.expr_value(e) for n, e in job_attrs(ses).items()}
    values["Requirements"] = classads.expr_value(f"GLIDEIN_Data_BW >= {min_mbps}")
    values["Rank"] = classads.expr_value("GLIDEIN_Data_BW")
    return classads.from_dict(values)


def test_job_idiom_requires_the_minimum_and_ranks_by_the_best_se() -> None:
    job = _job(["se1", "se2.x"], 50)
    slots = {
        "fast": {"GLIDEIN_BW_se1": 120},
        "one_good_se": {"GLIDEIN_BW_se1": 10, "GLIDEIN_BW_se2_x": 60.5},
        "slow": {"GLIDEIN_BW_se1": 30},
        "unknown": {},
    }
    results = {
        name: match_with_rank(job, classads.from_dict({**attrs, "Requirements": True}))
        for name, attrs in slots.items()
    }
    assert results == {
        "fast": (True, 120.0),
        "one_good_se": (True, 60.5),
        "slow": (False, 0.0),
        "unknown": (False, 0.0),
    }


def test_submit_lines_are_a_complete_submit_fragment() -> None:
    lines = submit_lines(["se1", "se2"], 50)
    assert lines == [
        '+GLIDEIN_Data_SEs = "se1,se2"',
        "+GLIDEIN_Data_BW = max({TARGET.GLIDEIN_BW_se1 ?: 0, TARGET.GLIDEIN_BW_se2 ?: 0})",
        "requirements = GLIDEIN_Data_BW >= 50",
        "rank = GLIDEIN_Data_BW",
    ]
    with pytest.raises(ConfigError, match="data location is empty"):
        submit_lines([], 50)


def test_parse_matrix_empty_is_empty() -> None:
    assert parse_matrix(None, "x").rows == {}


CATALOGUE = {"/store/a": ("se1.cern.ch", "se2.desy.de"), "/store/b": ("se2.desy.de",), "/store/c": ("se3",)}


@pytest.mark.parametrize(
    "names",
    [["/store/a"], ["/store/b"], ["/store/c", "/store/b"], ["se1.cern.ch"], ["/store/nowhere"], []],
)
def test_catalogue_expression_gives_what_the_resolved_ses_give(names: list[str]) -> None:
    """The transform's one expression over GLIDEIN_Datasets agrees with the idiom written for the
    job's resolved SEs, at targets with and without each bandwidth."""
    job = classads.from_dict({"GLIDEIN_Datasets": ",".join(names)} if names else {})
    ses = [se for se in resolve(CATALOGUE, names) if se in {"se1.cern.ch", "se2.desy.de", "se3"}]
    targets = [
        {se_attr("se1.cern.ch"): 120, se_attr("se2.desy.de"): 30, se_attr("se3"): 7},
        {se_attr("se2.desy.de"): 500},
        {},
    ]
    for bandwidths in targets:
        target = classads.from_dict(bandwidths)
        got = classads.evaluate(catalogue_bw_expr(CATALOGUE), job, target)
        want = classads.evaluate(data_bw_expr(ses), job, target) if ses else 0
        assert got == want, (names, bandwidths)
    assert classads.evaluate(catalogue_ses_expr(CATALOGUE), job) == ",".join(sorted(ses))


def test_transform_text_and_its_refusals() -> None:
    text = transform_text(CATALOGUE, "Data")
    assert text.splitlines()[:3] == [
        "JOB_TRANSFORM_NAMES = $(JOB_TRANSFORM_NAMES) Data",
        "JOB_TRANSFORM_Data @=end",
        "   REQUIREMENTS GLIDEIN_Datasets isnt undefined && GLIDEIN_Data_BW is undefined",
    ]
    assert text.endswith("@end\n")
    with pytest.raises(ConfigError, match=r"catalogue: '/store/x,y': a name with spaces, commas"):
        transform_text({"/store/x,y": ("se1",)})
    with pytest.raises(ConfigError, match=r"catalogue: no dataset with an SE"):
        transform_text({})
    with pytest.raises(ConfigError, match=r"transform name 'a b': letters"):
        transform_text(CATALOGUE, "a b")
