"""Every Markdown link and every `X.md` / `docs/X.md` named in the repository's files (docs,
docstrings, comments, scripts) points to a file that exists, so that references cannot rot.

A link `[text](path)` resolves against the directory of the file holding it; a bare name
(`INTERFACES.md`, `docs/POOL.md`) against that directory, the repository root or `docs/`.
Names under `shared/` (`../shared/htcondor/README.md`) are outside the repository: they are
checked only where that directory exists beside it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".py", ".md", ".sh", ".yaml", ".yml", ".cfg", ".toml", ".txt", ".html", ".js", ".sub"}
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
NAMED = re.compile(r"(?<![\w/.-])((?:\.\./)*[\w./-]*[\w-]\.md)\b")
OUTSIDE = re.compile(r"^(?:\.\./)*shared/")


def _tracked() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=30, check=True
        ).stdout.split(b"\0")
        files = [ROOT / name.decode() for name in listed if name]
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout: cannot list the repository's files")
    return [f for f in files if f.is_file() and (f.suffix in TEXT_SUFFIXES or f.name == "Makefile")]


def _exists(target: str, holder: Path) -> bool:
    path = target.split("#", 1)[0]
    if not path:
        return True  # an anchor in the same file
    if OUTSIDE.match(path):
        beside = ROOT.parent / re.sub(r"^(?:\.\./)*", "", path)
        return not (ROOT.parent / "shared").is_dir() or beside.exists()
    bases = [holder.parent, ROOT, ROOT / "docs"]
    return any((base / path).exists() for base in bases)


def references(text: str, markdown: bool = True) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link to a local file (in Markdown text) and every `*.md`
    name in `text`."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in LINK.finditer(line) if markdown else ():
            target = match.group(1)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
                found.append((number, target))
        found.extend((number, m.group(1)) for m in NAMED.finditer(LINK.sub("", line)))
    return found


def test_references_finds_links_and_names() -> None:
    text = "see [the pool](docs/POOL.md#claims) and CONTRACTS.md §6;\n[web](https://x.org/A.md) (DESIGN.md)"
    assert references(text) == [(1, "docs/POOL.md#claims"), (1, "CONTRACTS.md"), (2, "DESIGN.md")]


def test_a_missing_file_is_caught() -> None:
    holder = ROOT / "docs" / "POOL.md"
    assert _exists("INTERFACES.md", holder) and _exists("docs/INTERFACES.md#5", ROOT / "README.md")
    assert not _exists("CONTRACTS.md", holder) and not _exists("DESIGN.md", ROOT / "README.md")


def test_every_md_reference_in_the_repository_exists() -> None:
    broken = []
    for path in _tracked():
        if path == Path(__file__).resolve():
            continue  # its examples of broken names are on purpose
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        for line, target in references(text, path.suffix == ".md"):
            if not _exists(target, path):
                broken.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    assert broken == [], "references to files that do not exist:\n" + "\n".join(broken)
