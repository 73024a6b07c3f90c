"""Published attributes (glideinWMS `<attr>`): their values, types and flags.

An attr is `{value, type, publish, parameter, glidein_publish, job_publish, const}`, or its value
alone (`GLIDEIN_Site: Louvain`; an integer is `type: int`), whose flags are then the defaults or
the factory's `attr_flags` for that name (`with_flags`, applied by `FactoryConfig.all_entries()`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from glidein.common.config.base import AttrName, StrictModel, check_condor_value, check_expr

AttrType = Literal["string", "int", "expr", "config"]


class Attr(StrictModel):
    """A published attribute (glideinWMS `<attr>`): advertised in the entry ad and/or given to pilots."""

    value: str | int | float | bool = Field(
        description="Value; for type `expr` a ClassAd expression, for `config` an HTCondor config value."
    )
    type: AttrType = Field(
        default="string",
        description="`string`, `int`, `expr` (a ClassAd expression, published as one) or `config` (an"
        " HTCondor config value the pilot writes into its startd's config, `$(STARTD_DEBUG) D_SECURITY`;"
        ' published as a string; glideinWMS `type="expr"`).',
    )
    publish: bool = Field(default=True, description="Advertise in the glidefactory ad of the entry.")
    parameter: bool = Field(default=True, description="Pass to the pilot as a parameter.")
    glidein_publish: bool = Field(
        default=False, description="The pilot's startd publishes it in its slot ad."
    )
    job_publish: bool = Field(default=False, description="The pilot exports it to the jobs' environment.")
    const: bool = Field(default=True, description="Frontends may not override it.")

    @model_validator(mode="after")
    def _value_matches_type(self) -> Attr:
        if self.type == "int" and (isinstance(self.value, bool) or not _is_int(self.value)):
            raise ValueError(f"value {self.value!r} is not an integer (type: int)")
        if self.type == "expr":
            check_expr(str(self.value).lower() if isinstance(self.value, bool) else str(self.value))
        if self.type == "config":
            check_condor_value(str(self.value))
        return self


def _is_int(value: object) -> bool:
    if isinstance(value, int):
        return True
    if isinstance(value, str):
        try:
            int(value.strip())
        except ValueError:
            return False
        return True
    return False


def _attr_shorthand(value: object) -> object:
    """`NAME: text` is `{value: text}`, `NAME: 12` is `{value: 12, type: int}` (flags: their
    defaults, or the factory's `attr_flags` for that name)."""
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"value": value, "type": "int"}
    return value


Attrs = dict[
    AttrName, Annotated[Attr, BeforeValidator(_attr_shorthand, json_schema_input_type=Attr | str | int)]
]


class AttrFlags(StrictModel):
    """Flags of an attribute wherever it does not set them itself (glideinWMS repeats them on every
    `<attr>`; an import writes them here once per name). Unset = the attr's own default."""

    publish: bool | None = Field(default=None, description="Advertise in the entry ad.")
    parameter: bool | None = Field(default=None, description="Pass to the pilot as a parameter.")
    glidein_publish: bool | None = Field(default=None, description="The pilot's startd publishes it.")
    job_publish: bool | None = Field(default=None, description="The pilot exports it to the jobs.")
    const: bool | None = Field(default=None, description="Frontends may not override it.")


def with_flags(attrs: dict[str, Attr], flags: dict[str, AttrFlags]) -> dict[str, Attr]:
    """`attrs` with `flags` applied to each attr that does not set a flag itself."""
    if not flags:
        return attrs
    out = dict(attrs)
    for name, attr in attrs.items():
        given = flags.get(name)
        if given is None:
            continue
        update = {
            k: v for k, v in given.model_dump(exclude_none=True).items() if k not in attr.model_fields_set
        }
        if update:
            out[name] = attr.model_copy(update=update)
    return out
