"""The LDAP search the GLUE readers use (ldap3, pure Python). Errors become InfoSysError."""

from __future__ import annotations

import warnings
from types import ModuleType

from glidein.common.errors import GlideinError

Record = dict[str, list[str]]  # attribute name (lower case) -> values


class InfoSysError(GlideinError):
    """An information system could not be read; the previous entries are kept."""


def ldap3_module() -> ModuleType:
    """ldap3, imported without the DeprecationWarning its 2.9.1 gets from pyasn1 >= 0.6.1
    (`tagMap is deprecated`): a warning about ldap3's own code that an operator cannot act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3\.")
        import ldap3
    module: ModuleType = ldap3
    return module


def search(url: str, base: str, object_class: str, timeout: int) -> list[Record]:
    """Every object of `object_class` under `base`, anonymous bind, attributes lower-cased."""
    ldap3 = ldap3_module()
    from ldap3.core.exceptions import LDAPException

    conn = None
    try:
        server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=timeout)
        conn = ldap3.Connection(server, auto_bind=True, receive_timeout=timeout)
        found = conn.extend.standard.paged_search(
            base, f"(objectClass={object_class})", attributes=[ldap3.ALL_ATTRIBUTES], generator=False
        )
    except LDAPException as exc:
        raise InfoSysError(f"{url}: {base}: {type(exc).__name__}: {exc}") from None
    finally:
        if conn is not None:  # a bound connection's context manager would leave it open
            conn.unbind()
    records = []
    for item in found or []:
        if item.get("type") != "searchResEntry":
            continue
        raw = item.get("raw_attributes") or {}
        records.append({key.lower(): [_text(v) for v in values] for key, values in raw.items()})
    return records


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def first(record: Record, key: str, default: str = "") -> str:
    values = record.get(key.lower()) or []
    return values[0] if values else default


def number(record: Record, key: str) -> int:
    try:
        return int(float(first(record, key, "0")))
    except ValueError:
        return 0
