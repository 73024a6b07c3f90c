"""The monitoring pages in Debian's headless Chromium, driven over the DevTools protocol.

Entries table lists every entry, every graph image loads (HTTP 200, naturalWidth > 0), the
pilots page lists the pilots with working log links and filters, and screenshots are saved
to test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glidein.common.monitoring.recorder import Monitor
from tests.cdp import Browser
from tests.monitoring_sample import ENTRIES, FEEDBACK, ODD_ENTRY, STEP, entries_at, pilots
from tests.procs import Processes, free_port, wait_for_port

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

IMAGES_JS = """
(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })));
  return imgs.map(i => ({src: i.src, width: i.naturalWidth, height: i.naturalHeight}));
})()
"""


@pytest.fixture
def site(tmp_path: Path, processes: Processes) -> str:
    root, pdir = tmp_path / "mon", tmp_path / "pilots"
    now = time.time()
    start = int(now) - int(now) % STEP - 40 * STEP
    monitor = Monitor(root, "factory")
    for k in range(41):
        monitor.record_cycle(entries_at(k), start + k * STEP, pilots(now, pdir))
    port = free_port()
    processes.glidein(
        ["monitor", "web", "--root", str(root), "--port", str(port), "--pilots-dir", str(pdir)], "web"
    )
    wait_for_port(port)
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    b = Browser(tmp_path / "chromium.log")
    try:
        yield b
    finally:
        b.close()


def check_images(browser: Browser, session: str, minimum: int) -> None:
    images = browser.evaluate(session, IMAGES_JS)
    statuses = browser.responses(session)
    assert len(images) >= minimum
    for img in images:
        assert img["width"] > 0 and img["height"] > 0, img
        assert statuses.get(img["src"]) == 200, (img["src"], statuses.get(img["src"]))


def test_pages_in_headless_chromium(site: str, browser: Browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.open_page()

    browser.navigate(page, site + "/")
    names = browser.evaluate(
        page, "Array.from(document.querySelectorAll('#entries a.entry-link')).map(a => a.text)"
    )
    assert names == [name for name, *_ in ENTRIES]
    states = browser.evaluate(
        page, "Array.from(document.querySelectorAll('#entries tr.entry')).map(r => r.cells[2].innerText)"
    )
    assert "downtime" in states[1] and "blocked" in states[2]
    feedback = browser.evaluate(
        page, "Array.from(document.querySelectorAll('#entries td.feedback')).map(c => c.innerText)"
    )
    assert feedback == [FEEDBACK, "-", "-", "-"]
    assert browser.evaluate(page, "document.querySelectorAll('b').length") == 1  # only the current period
    check_images(browser, page, minimum=5)
    browser.screenshot(page, ARTIFACTS / "monitoring-entries.png")

    find = f"find(a => a.text === {json.dumps(ODD_ENTRY)})"
    href = browser.evaluate(page, f"Array.from(document.querySelectorAll('a.entry-link')).{find}.href")
    browser.navigate(page, href)
    assert browser.evaluate(page, "document.querySelector('h1').innerText") == f"Entry {ODD_ENTRY}"
    check_images(browser, page, minimum=5)
    browser.screenshot(page, ARTIFACTS / "monitoring-entry.png")

    client_href = browser.evaluate(page, "document.querySelector('#entry a').href")
    browser.navigate(page, client_href + "&period=1w")
    assert browser.evaluate(page, "document.querySelector('h1').innerText").startswith("Client fe1.")
    check_images(browser, page, minimum=5)

    browser.navigate(page, site + "/pilots")
    ids = browser.evaluate(
        page, "Array.from(document.querySelectorAll('tr.pilot')).map(r => r.cells[0].innerText)"
    )
    assert sorted(ids) == [f"p{i:04d}" for i in range(8)]
    browser.screenshot(page, ARTIFACTS / "monitoring-pilots.png")
    links = browser.evaluate(page, "Array.from(document.querySelectorAll('a.log-link')).map(a => a.href)")
    assert len(links) == 3 * 6  # six pilots have stdout, stderr and the streamed log
    first_words = {"stdout": "stdout", "stderr": "stderr", "log": "streamed log"}
    for link in links:  # each followed in the browser (the page's CSP forbids fetch())
        browser.navigate(page, link)
        pilot_id, kind = link.split("/")[-2:]
        assert browser.responses(page)[link] == 200
        assert browser.evaluate(page, "document.contentType") == "text/plain"
        text = browser.evaluate(page, "document.body.innerText")
        assert text.startswith(f"{first_words[kind]} of {pilot_id}"), (link, text)
    browser.navigate(page, site + "/pilots")

    # The filter form: failed pilots only.
    browser.evaluate(page, "document.querySelector('select[name=state]').value = 'failed'")
    browser.call("Runtime.evaluate", {"expression": "document.querySelector('form.filter').submit()"}, page)
    browser.wait_event("Page.loadEventFired", page)
    assert browser.evaluate(page, "location.search").find("state=failed") >= 0
    states = browser.evaluate(
        page, "Array.from(document.querySelectorAll('tr.pilot')).map(r => r.cells[4].innerText)"
    )
    assert states == ["failed", "failed"]
    assert "Network" in browser.evaluate(page, "document.querySelector('#pilots').innerText")

    # A log link followed in the browser shows the text, not a page.
    browser.navigate(page, site + "/pilots/p0001/log")
    assert browser.evaluate(page, "document.body.innerText").startswith("streamed log of p0001 <script>")
