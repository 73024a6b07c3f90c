"""Helpers of the demo numbers test: every monitoring page and graph in headless Chromium, with
screenshots, and the figures each page, /metrics, the bus and the schedd give."""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from prometheus_client.parser import text_string_to_metric_families

from tests.cdp import Browser

WHOLE = re.compile(r"^\d+$")
IMAGES_JS = """
(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })));
  return imgs.map(i => ({src: i.src, width: i.naturalWidth, height: i.naturalHeight}));
})()
"""
TABLE_JS = """
Array.from(document.querySelectorAll('table tbody tr')).map(r => ({
  cls: r.className, cells: Array.from(r.cells).map(c => c.innerText.trim()),
  nums: Array.from(r.querySelectorAll('td.num')).map(c => c.innerText.trim())}))
"""
COLUMNS = (
    "pilots_idle", "pilots_running", "pilots_held", "pilots_pending", "requested_idle", "requested_max",
    "jobs_idle", "jobs_running", "pilots_completed", "validation_failures",
)  # fmt: skip


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as reply:
        assert reply.status == 200, url
        return str(reply.read().decode())


def metrics(site: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(get(site + "/metrics")):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def summed(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(
        v for (n, lab), v in samples.items() if n == name and all((k, x) in lab for k, x in labels.items())
    )


@dataclass
class Visit:
    """What one site's pages showed: rows of numbers per page, graph URLs, screenshots taken."""

    site: str
    shots: Path
    tables: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    graphs: set[str] = field(default_factory=set)
    taken: list[Path] = field(default_factory=list)


def page(browser: Browser, session: str, visit: Visit, path: str, name: str) -> list[dict[str, object]]:
    """Open one page, check its images and numbers, screenshot it; its table rows."""
    url = visit.site + path
    browser.navigate(session, url)
    assert browser.responses(session).get(url) == 200, url
    images = browser.evaluate(session, IMAGES_JS)
    statuses = browser.responses(session)
    for img in images:
        assert img["width"] > 0 and statuses.get(img["src"]) == 200, (url, img)
        visit.graphs.add(img["src"])
    rows: list[dict[str, object]] = browser.evaluate(session, TABLE_JS)
    for row in rows:
        for text in row["nums"]:  # type: ignore[union-attr]
            assert WHOLE.match(str(text)) or text == "", (url, row)  # counts are whole numbers
    shot = visit.shots / f"{urlsplit(visit.site).port}-{name}.png"
    browser.screenshot(session, shot)
    visit.taken.append(shot)
    visit.tables[path] = rows
    return rows


def counts(row: dict[str, object]) -> dict[str, int]:
    nums = [int(str(n)) for n in row["nums"]]  # type: ignore[union-attr]
    return dict(zip(COLUMNS, nums[: len(COLUMNS)], strict=True))


def browse_site(browser: Browser, visit: Visit) -> None:
    """Every page of one monitoring site (entries, each entry, each client, pilots, logs) and then
    every graph those pages show, each screenshotted."""
    session = browser.open_page()
    rows = page(browser, session, visit, "/", "entries")
    entries = [str(r["cells"][0]) for r in rows if r["cls"] == "entry"]  # type: ignore[index]
    assert entries, "no entries on the entries page"
    clients: set[str] = set()
    for entry in entries:
        erows = page(browser, session, visit, f"/entry?name={quote(entry)}", f"entry-{entry}")
        own = [r for r in erows if r["cls"] != "total"]
        total = next(r for r in erows if r["cls"] == "total")
        sums = {k: sum(counts(r)[k] for r in own) for k in COLUMNS}
        assert counts(total) == sums, (entry, total, own)  # the total is the sum of its clients
        for r in own:
            client = str(r["cells"][0])  # type: ignore[index]
            clients.add(client)
            page(
                browser,
                session,
                visit,
                f"/client?name={quote(client)}&entry={quote(entry)}",
                f"c-{entry}-{client}",
            )
    for client in sorted(clients):
        page(browser, session, visit, f"/client?name={quote(client)}", f"client-{client}")
    page(browser, session, visit, "/pilots", "pilots")
    page(browser, session, visit, "/pilots?state=failed", "pilots-failed")
    for n, src in enumerate(sorted(visit.graphs)):
        browser.navigate(session, src)
        assert browser.responses(session).get(src) == 200, src
        shot = visit.shots / f"{urlsplit(visit.site).port}-graph-{n:03d}.png"
        browser.screenshot(session, shot)
        visit.taken.append(shot)
