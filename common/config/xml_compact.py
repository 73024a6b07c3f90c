"""Make an imported config short: leave out what equals a default, write attr flags once per name.

glideinWMS writes every setting of every entry in full; a 1,000-entry factory imported as it is
was 3 MB and 300,000 YAML values, which libyaml alone needs about 2 s to read (every factory
start and `config check`). Leaving out defaults (limits, pilot settings, `enabled: true`), and
writing the flags an attribute has in most entries once in `attr_flags` (an entry then says
`GLIDEIN_Site: Louvain`), gives the same config in about a third of the values.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel

from glidein.common.config.attrs import Attr, AttrFlags
from glidein.common.config.entry import (
    EntryLimits,
    FrontendLimits,
    HeldRelease,
    PilotSettings,
    Removal,
    StaleAge,
)

Data = dict[str, Any]
_FLAGS = tuple(AttrFlags.model_fields)


def compact(data: Data, entries: list[Data]) -> None:
    """Shorten `data` (the whole config) whose `entries` include the entry-set members."""
    for entry in entries:
        if entry.get("enabled") is True:
            del entry["enabled"]
        for key, defaults in _SECTION_DEFAULTS.items():
            if key in entry:
                _drop_defaults(entry[key], defaults)
                if not entry[key]:
                    del entry[key]
        limits = entry.get("limits", {})
        if "default_per_frontend" in limits:
            _drop_defaults(limits["default_per_frontend"], _FRONTEND_DEFAULTS)
            if not limits["default_per_frontend"]:
                del limits["default_per_frontend"]
    attr_dicts = [data.get("attrs", {})]
    attr_dicts += [s.get("attrs", {}) for s in data.get("entry_sets", [])]
    attr_dicts += [e.get("attrs", {}) for e in entries]
    flags = _common_flags(attr_dicts)
    if flags:  # written before the entries that use it
        rest: Data = {key: data.pop(key) for key in ("entries", "entry_sets") if key in data}
        data.update({"attr_flags": flags, **rest})
    for attrs in attr_dicts:
        for name, attr in attrs.items():
            attrs[name] = _short(attr, {**_ATTR_DEFAULTS, **flags.get(name, {})})


def _state(attr: Data) -> tuple[tuple[str, bool], ...]:
    """The flags that differ from the schema's defaults."""
    return tuple((f, attr[f]) for f in _FLAGS if f in attr and attr[f] != _ATTR_DEFAULTS[f])


def _common_flags(attr_dicts: list[Data]) -> dict[str, Data]:
    """Per name, the flags most of its attrs have (when they differ from the defaults)."""
    seen: dict[str, Counter[tuple[tuple[str, bool], ...]]] = {}
    for attrs in attr_dicts:
        for name, attr in attrs.items():
            seen.setdefault(name, Counter())[_state(attr)] += 1
    out: dict[str, Data] = {}
    for name, counts in sorted(seen.items()):
        state, count = counts.most_common(1)[0]
        if state and count >= 2:
            out[name] = dict(state)
    return out


def _short(attr: Data, defaults: Data) -> Any:
    """The attr with only what differs from `defaults` (the flags its name has), or its value alone."""
    full = {**_ATTR_DEFAULTS, **{k: v for k, v in attr.items() if k in _ATTR_DEFAULTS}}
    out = {"value": attr["value"]}
    out.update({k: v for k, v in full.items() if k != "value" and v != defaults.get(k)})
    value, kind = out["value"], out.get("type", "string")
    if set(out) == {"value"} and isinstance(value, str):
        return value
    if (
        set(out) == {"value", "type"}
        and kind == "int"
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        return value
    return out


def _defaults(model: type[BaseModel]) -> Data:
    return {name: field.default for name, field in model.model_fields.items() if not field.is_required()}


def _drop_defaults(data: Data, defaults: Data) -> None:
    for key in [k for k, v in data.items() if k in defaults and defaults[k] == v]:
        del data[key]


_ATTR_DEFAULTS = _defaults(Attr)
_FRONTEND_DEFAULTS = _defaults(FrontendLimits)
_SECTION_DEFAULTS = {
    "limits": _defaults(EntryLimits),
    "held": _defaults(HeldRelease),
    "removal": _defaults(Removal),
    "stale_age": _defaults(StaleAge),
    "pilot": _defaults(PilotSettings),
}
