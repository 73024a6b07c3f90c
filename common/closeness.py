"""Network closeness: a bandwidth matrix (CE, entry or site -> SE, MB/s) and a data catalogue.

The matrix and the catalogue are YAML (or JSON) files; the matrix may also be an HTTP(S) URL:

    # matrix: one row per source (an entry name, a CE gatekeeper or host, or a GLIDEIN_Site)
    SiteA: {se1.example.org: 120, se2.example.org: 35}
    ce2.example.org: {se1.example.org: 8}

    # catalogue: dataset -> the SEs that hold it
    /store/run1: [se1.example.org, se2.example.org]

ClassAd has no user-defined functions, so closeness travels as plain attributes: every entry ad
and every pilot slot carries one attribute per SE, `GLIDEIN_BW_<SE>` (MB/s; `se_attr` makes the
name), and a job names its SEs in an expression of its own (`job_attrs`):

    GLIDEIN_Data_BW = max({TARGET.GLIDEIN_BW_se1_example_org ?: 0, ...})
    Requirements = GLIDEIN_Data_BW >= 50        Rank = GLIDEIN_Data_BW

which classad2 (frontend, embedded schedd) and HTCondor's negotiator evaluate the same way.

A job may instead name its datasets only (`+GLIDEIN_Datasets = "/store/run1,/store/run2"`) and let
a schedd job transform add the expression: `catalogue_bw_expr` is one expression for the whole
catalogue, over the job's own GLIDEIN_Datasets, that gives the same value as `data_bw_expr` of the
resolved SEs (`transform_text` writes it as an HTCondor JOB_TRANSFORM).
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from glidein.common.errors import ConfigError

BW_PREFIX = "GLIDEIN_BW_"
DATA_BW = "GLIDEIN_Data_BW"  # the job's best bandwidth to its data at the target (an expression)
DATA_SES = "GLIDEIN_Data_SEs"  # the job's SEs, comma-separated (for people and monitoring)
DATASETS = "GLIDEIN_Datasets"  # the job's datasets (or SEs), comma-separated, for a transform
_NOT_LISTABLE = re.compile(r"[\s,\"\\$#]")  # breaks a ClassAd string list or a condor_config line
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")


def se_attr(se: str) -> str:
    """The attribute carrying the bandwidth to `se`: `GLIDEIN_BW_` + the name, other chars as `_`."""
    return BW_PREFIX + _NOT_NAME.sub("_", se.strip())


@dataclass(frozen=True)
class Matrix:
    """Bandwidths in MB/s by source (entry, CE or site) and SE."""

    rows: Mapping[str, Mapping[str, float]]

    def bandwidths(self, sources: Iterable[str]) -> dict[str, float]:
        """The row of the first of `sources` the matrix has (most specific first); {} if none."""
        for source in sources:
            if source and source in self.rows:
                return dict(self.rows[source])
        return {}


def _mapping(data: object, where: str) -> Mapping[object, object]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: must be a mapping, got {type(data).__name__}")
    return data


def parse_matrix(data: object, where: str) -> Matrix:
    """The matrix from parsed YAML; every error names `where` and the source and SE."""
    rows: dict[str, dict[str, float]] = {}
    for source, row in _mapping(data, where).items():
        row_map = _mapping(row, f"{where}: {source}")
        seen: dict[str, str] = {}
        values: dict[str, float] = {}
        for se, mbps in row_map.items():
            if isinstance(mbps, bool) or not isinstance(mbps, int | float) or mbps < 0:
                raise ConfigError(f"{where}: {source}.{se}: bandwidth must be a number >= 0 (MB/s)")
            attr = se_attr(str(se))
            if attr in seen:
                raise ConfigError(f"{where}: {source}.{se}: same attribute {attr} as SE {seen[attr]!r}")
            seen[attr] = str(se)
            values[str(se)] = float(mbps)
        rows[str(source)] = values
    return Matrix(rows)


def parse_catalogue(data: object, where: str) -> dict[str, tuple[str, ...]]:
    """dataset -> SEs from parsed YAML."""
    out: dict[str, tuple[str, ...]] = {}
    for dataset, listed in _mapping(data, where).items():
        ses = [listed] if isinstance(listed, str) else listed
        if not isinstance(ses, list) or not all(isinstance(se, str) and se for se in ses):
            raise ConfigError(f"{where}: {dataset}: must list SE names")
        out[str(dataset)] = tuple(ses)
    return out


def read_text(source: str, timeout: float = 30.0) -> str:
    """The text of a file path or an http(s):// URL; ConfigError naming the source otherwise."""
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=timeout) as response:  # noqa: S310 (http only)
                return bytes(response.read()).decode()
        return Path(source).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read: {exc}") from None


def _yaml(text: str, where: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not YAML/JSON: {str(exc).splitlines()[0]}") from None


def load_matrix(source: str, timeout: float = 30.0) -> Matrix:
    return parse_matrix(_yaml(read_text(source, timeout), source), source)


def load_catalogue(source: str) -> dict[str, tuple[str, ...]]:
    return parse_catalogue(_yaml(read_text(source), source), source)


def resolve(catalogue: Mapping[str, Sequence[str]], names: Iterable[str]) -> list[str]:
    """The SEs of `names`: a dataset of the catalogue gives its SEs, any other name is an SE."""
    ses: list[str] = []
    for name in names:
        for se in catalogue.get(name, (name,)):
            if se not in ses:
                ses.append(se)
    return ses


def data_bw_expr(ses: Sequence[str]) -> str:
    """The best bandwidth from the target to any of `ses` (0 where the target publishes none)."""
    if not ses:
        raise ConfigError("no SE given: the job's data location is empty")
    return "max({" + ", ".join(f"TARGET.{se_attr(se)} ?: 0" for se in ses) + "})"


def job_attrs(ses: Sequence[str]) -> dict[str, str]:
    """The job's closeness attributes as ClassAd expression texts."""
    quoted = ",".join(ses).replace('"', "")
    return {DATA_SES: f'"{quoted}"', DATA_BW: data_bw_expr(ses)}


def submit_lines(ses: Sequence[str], min_mbps: float) -> list[str]:
    """Submit lines: the attributes, Requirements (at least `min_mbps`) and Rank (the more the better)."""
    lines = [f"+{name} = {expr}" for name, expr in job_attrs(ses).items()]
    return [*lines, f"requirements = {DATA_BW} >= {min_mbps:g}", f"rank = {DATA_BW}"]


def _by_se(catalogue: Mapping[str, Sequence[str]], where: str) -> dict[str, list[str]]:
    """SE -> the names that resolve to it: the datasets it holds and its own name (as `resolve`)."""
    out: dict[str, list[str]] = {}
    for dataset, ses in catalogue.items():
        for se in ses:
            out.setdefault(se, [se]).append(dataset)
    for name in (n for names in out.values() for n in names):
        if _NOT_LISTABLE.search(name):
            raise ConfigError(f"{where}: {name!r}: a name with spaces, commas, quotes, '$' or '#'")
    return out


def _names_in_job(names: Sequence[str]) -> str:
    return f'stringListsIntersect({DATASETS} ?: "", "{",".join(names)}")'


def catalogue_bw_expr(catalogue: Mapping[str, Sequence[str]], where: str = "catalogue") -> str:
    """The best bandwidth from the target to the SEs of the job's GLIDEIN_Datasets (0: none)."""
    by_se = _by_se(catalogue, where)
    if not by_se:
        raise ConfigError(f"{where}: no dataset with an SE")
    terms = [
        f"ifThenElse({_names_in_job(names)}, TARGET.{se_attr(se)} ?: 0, 0)"
        for se, names in sorted(by_se.items())
    ]
    return "max({" + ", ".join(terms) + "})"


def catalogue_ses_expr(catalogue: Mapping[str, Sequence[str]], where: str = "catalogue") -> str:
    """The SEs of the job's GLIDEIN_Datasets, comma-separated (evaluated once, in the job alone)."""
    parts = [
        f'ifThenElse({_names_in_job(n)}, "{se} ", "")' for se, n in sorted(_by_se(catalogue, where).items())
    ]
    return f'join(",", split(strcat({", ".join(parts)})))'


def transform_text(
    catalogue: Mapping[str, Sequence[str]], name: str = "GlideinData", where: str = "catalogue"
) -> str:
    """condor_config lines of a schedd JOB_TRANSFORM giving every job with GLIDEIN_Datasets (and no
    GLIDEIN_Data_BW of its own) the attributes of the idiom, from the catalogue."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ConfigError(f"transform name {name!r}: letters, digits and _ only")
    return "\n".join(
        [
            f"JOB_TRANSFORM_NAMES = $(JOB_TRANSFORM_NAMES) {name}",
            f"JOB_TRANSFORM_{name} @=end",
            f"   REQUIREMENTS {DATASETS} isnt undefined && {DATA_BW} is undefined",
            f"   SET {DATA_BW} {catalogue_bw_expr(catalogue, where)}",
            f"   EVALSET {DATA_SES} {catalogue_ses_expr(catalogue, where)}",
            "@end",
            "",
        ]
    )
