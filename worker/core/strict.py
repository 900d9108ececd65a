"""Strict JSON types shared by the contracts: integers, booleans and times as JSON means them.

The contracts promise that a wrong type is invalid: `"3"` or `true` is not an integer, `"yes"`
is not a boolean, a Unix number or a time without an offset is not a time. Pydantic's default
(lax) mode would accept all of those, so the models use these types instead. Each one validates
in pydantic's core (no Python call per value) and states in its JSON Schema exactly what it
accepts, so that a JSON Schema validator and the models give the same verdict on any value:

- `Integer(ge, le)`: a JSON number with no fractional part (`3` or `3.0`, as JSON Schema's
  `integer` says); never a string or a boolean.
- `Boolean`: `true` or `false` only.
- `Rfc3339Time`: an RFC 3339 `date-time` string with its offset (`Z` or `±hh:mm`).

The fast check of `worker/core/_event_check.py` uses `RFC3339_PATTERN` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, StrictBool
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

_DATE: Final = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME: Final = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_OFFSET: Final = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_RFC3339: Final = f"{_DATE}[Tt]{_TIME}{_OFFSET}"
RFC3339_PATTERN: Final = f"^{_RFC3339}$"
"""An RFC 3339 `date-time` with its offset, in the syntax every regex engine reads alike
(ECMA-262 for JSON Schema, Rust for pydantic, Python): explicit digit ranges, no `\\d`.
Fractions go to nanoseconds (digits past the microsecond are dropped); a leap second (`:60`) is
refused, as Python's datetime cannot hold it. The calendar (February 30) is judged by the
parser and by JSON Schema's `date-time` format."""
RFC3339_PYTHON_PATTERN: Final = rf"\A{_RFC3339}\Z"
"""The same for Python's `re` (whose `$` also matches before a final newline)."""

_WHITE_SPACE: Final = (
    r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Unicode's White_Space characters, spelled out: `\\s` means three different sets in Rust
(pydantic), ECMA-262 (JSON Schema) and Python."""
TEAM_ID_PATTERN: Final = f"^[^:{_WHITE_SPACE}]+$"
"""A team id: no `:` (it separates the record key's halves) and no white space."""
TEAM_ID_PYTHON_PATTERN: Final = rf"\A[^:{_WHITE_SPACE}]+\Z"
"""The same for Python's `re`."""

_MEDIA_TYPE: Final = r"application/(?:[A-Za-z0-9_.-]+\+)?json(?:[ \t]*;[ -~]*)?"
JSON_MEDIA_TYPE_PATTERN: Final = f"^{_MEDIA_TYPE}$"
"""A JSON media type (`application/json`, `application/cloudevents+json; charset=utf-8`), in
ASCII as media types are: `\\w` and `.` too differ between regex engines."""
JSON_MEDIA_TYPE_PYTHON_PATTERN: Final = rf"\A{_MEDIA_TYPE}\Z"
"""The same for Python's `re`."""

_TIME_ERROR: Final = (
    "Input should be an RFC 3339 date-time with an offset, such as 2024-05-01T10:00:00Z"
)


class _Rfc3339:
    """The core schema of `Rfc3339Time`: a string of the RFC 3339 syntax, then a datetime."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        text = core_schema.str_schema(strict=True, pattern=RFC3339_PATTERN)
        moment = core_schema.datetime_schema(tz_constraint="aware")
        from_json = core_schema.chain_schema([text, moment])
        # From Python (tools, tests), an aware datetime is taken as it is.
        from_python = core_schema.union_schema(
            [core_schema.datetime_schema(strict=True, tz_constraint="aware"), from_json],
            mode="left_to_right",
        )
        return core_schema.custom_error_schema(
            core_schema.json_or_python_schema(json_schema=from_json, python_schema=from_python),
            custom_error_type="datetime_rfc3339",
            custom_error_message=_TIME_ERROR,
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}


Rfc3339Time = Annotated[datetime, _Rfc3339]
"""A timezone-aware time, given in JSON as an RFC 3339 `date-time` string with its offset."""


def _whole(value: float) -> int:
    """The integer a JSON number such as `3.0` or `1e30` stands for (its double's value)."""
    if not value.is_integer():
        raise PydanticCustomError("int_from_float", "Input should be a valid integer")
    return int(value)


@dataclass(frozen=True, slots=True)
class Integer:
    """An integer field between `ge` and `le`: a JSON number without a fractional part.

    `3.0` is the integer 3 (JSON has one number type, and JSON Schema's `integer` accepts it);
    `3.5`, `"3"` and `true` are not integers. Used as `Annotated[int, Integer(ge=1, le=9)]`.
    """

    ge: int | None = None
    le: int | None = None
    description: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        # Tried in order: a JSON integer as it is, else a JSON number whose value is integral
        # (strict float refuses strings and booleans; `_whole` refuses a fraction). Only the
        # second, rare, form costs a Python call.
        integral = core_schema.union_schema(
            [
                core_schema.int_schema(strict=True),
                core_schema.chain_schema(
                    [
                        core_schema.float_schema(strict=True),
                        core_schema.no_info_plain_validator_function(_whole),
                    ]
                ),
            ],
            mode="left_to_right",
            custom_error_type="int_type",
        )
        bounded = core_schema.int_schema(strict=True, ge=self.ge, le=self.le)
        return core_schema.chain_schema([integral, bounded])

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out: dict[str, Any] = {"type": "integer"}
        if self.ge is not None and self.ge == self.le:
            out["const"] = self.ge
        elif self.ge is not None:
            out["minimum"] = self.ge
        if self.le is not None and self.le != self.ge:
            out["maximum"] = self.le
        if self.description:
            out["description"] = self.description
        return out


Boolean = StrictBool
"""`true` or `false`: never `"yes"`, `"true"`, `1` or `0`."""
