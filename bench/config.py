"""Config benchmark: load and validate factory configs of 100 / 1,000 / 5,000 entries, and import a
glideinWMS XML of 1,000 entries. This is what a factory start and every SIGHUP reload pay.

Entries are copies of the htcondor entry of etc/factory.yaml (attrs, limits, submit attrs).
Prints one line per figure (best of 3); about 20 s. Run: .venv/bin/python bench/config.py
"""

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from glidein.common.config import load_factory_config
from glidein.common.config.xml_import import import_xml

ROOT = Path(__file__).resolve().parents[1]
RUNS = 3


def best_of(func: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def factory_yaml(entries: int, folder: Path) -> Path:
    data = yaml.safe_load((ROOT / "etc" / "factory.yaml").read_text())
    template = data["entries"][3]
    data["entries"] = [dict(template, name=f"CE_{index:05d}") for index in range(entries)]
    path = folder / f"factory-{entries}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def glideinwms_xml(entries: int) -> bytes:
    text = (ROOT / "etc" / "glideinWMS-factory-example.xml").read_text()
    start = text.index("      <entry name=")
    end = text.index("</entry>", start) + len("</entry>")
    entry = text[start:end]
    many = "\n".join(entry.replace("CMS_T2_US_Nebraska_Red", f"CE_{i:05d}") for i in range(entries))
    return (text[:start] + many + text[end:]).encode()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for count in (100, 1000, 5000):
            path = factory_yaml(count, Path(tmp))
            seconds = best_of(lambda p=path: load_factory_config(p))
            size = path.stat().st_size / 1e6
            print(f"load_factory_config {count:5d} entries ({size:.1f} MB YAML): {seconds:.3f} s")
        config = load_factory_config(factory_yaml(1000, Path(tmp)))
        seconds = best_of(config.all_entries)
        print(f"all_entries() over 1000 entries: {seconds * 1000:.1f} ms")
    data = glideinwms_xml(1000)
    seconds = best_of(lambda: import_xml(data, "bench.xml"))
    print(f"import_xml 1000 entries ({len(data) / 1e6:.1f} MB XML): {seconds:.3f} s")


if __name__ == "__main__":
    main()
