"""A real slapd on a loopback port with Debian's GLUE 1.3 and 2.0 schemas (package glue-schema),
loaded with the LDIF a test writes (slapadd before start), stopped by pid at the end.

Without slapd or the schemas the tests are skipped with the reason; under CI=true that is a
failure (`make` installs slapd, ldap-utils and glue-schema through scripts/system_deps.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from glidein.factory.autoconf.ldap import ldap3_module
from tests.procs import Processes, free_port, wait_for_port

SLAPD = "/usr/sbin/slapd"
SCHEMA_DIR = Path("/etc/ldap/schema")
SCHEMAS = ("core", "cosine", "Glue-CORE", "Glue-CE", "Glue-CESEBind", "Glue-SE", "Glue-MDS", "GLUE20")
ADMIN = {"o=glue": "cn=admin,o=glue", "o=grid": "cn=admin,o=grid"}
PASSWORD = "test-only"


def _missing() -> str | None:
    if not os.access(SLAPD, os.X_OK) or shutil.which("slapadd") is None:
        return "needs slapd and slapadd (Debian packages slapd, ldap-utils)"
    absent = [name for name in SCHEMAS if not (SCHEMA_DIR / f"{name}.schema").exists()]
    return f"needs the GLUE schemas (Debian package glue-schema): {absent}" if absent else None


class Slapd:
    """Config and databases under `root`; `start(ldif)` loads and starts, `url` to reach it."""

    def __init__(self, root: Path, processes: Processes) -> None:
        self.root, self.processes = root, processes
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.conf = root / "slapd.conf"

    def _write_conf(self) -> None:
        lines = [f"include {SCHEMA_DIR / name}.schema" for name in SCHEMAS]
        lines += [f"pidfile {self.root / 'slapd.pid'}", "modulepath /usr/lib/ldap", "moduleload back_mdb"]
        lines += ["sizelimit unlimited"]
        for suffix, admin in ADMIN.items():
            db = self.root / suffix.replace("=", "_")
            db.mkdir(parents=True, exist_ok=True)
            lines += ["database mdb", f'suffix "{suffix}"', f'rootdn "{admin}"', f"rootpw {PASSWORD}"]
            lines += [f"directory {db}", "maxsize 104857600"]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, ldif: dict[str, str]) -> None:
        """Load `ldif` (suffix -> text) with slapadd, then start slapd on loopback."""
        self._write_conf()
        for suffix, text in ldif.items():
            path = self.root / f"{suffix.replace('=', '_')}.ldif"
            path.write_text(text)
            subprocess.run(
                ["slapadd", "-f", str(self.conf), "-b", suffix, "-l", str(path)],
                check=True,
                capture_output=True,
                timeout=60,
            )
        self.processes.start([SLAPD, "-d", "0", "-h", self.url + "/", "-f", str(self.conf)], "slapd")
        wait_for_port(self.port, timeout=20)

    def modify(self, dn: str, attr: str, value: str) -> None:
        """Replace one attribute, as the site's information provider would."""
        ldap3 = ldap3_module()
        suffix = "o=glue" if dn.endswith("o=glue") else "o=grid"
        conn = ldap3.Connection(self.url, ADMIN[suffix], PASSWORD, auto_bind=True)
        try:
            assert conn.modify(dn, {attr: [(ldap3.MODIFY_REPLACE, [value])]}), conn.result
        finally:
            conn.unbind()

    def delete(self, dn: str) -> None:
        ldap3 = ldap3_module()
        suffix = "o=glue" if dn.endswith("o=glue") else "o=grid"
        conn = ldap3.Connection(self.url, ADMIN[suffix], PASSWORD, auto_bind=True)
        try:
            children = conn.extend.standard.paged_search(dn, "(objectClass=*)", generator=False)
            for child in sorted(children, key=lambda c: -len(c["dn"])):
                assert conn.delete(child["dn"]), conn.result
        finally:
            conn.unbind()


@pytest.fixture
def slapd(tmp_path: Path, processes: Processes) -> Iterator[Callable[[dict[str, str]], Slapd]]:
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {missing}")
        pytest.skip(missing)

    def start(ldif: dict[str, str]) -> Slapd:
        server = Slapd(tmp_path / "slapd", processes)
        server.root.mkdir()
        server.start(ldif)
        return server

    yield start
