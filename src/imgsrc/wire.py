"""Wire primitives shared by every resource: the model base, timestamps, creator, state and events.

These are the building blocks of the Cycle wire format. They are imported by the server and by the SDK alike,
so this module depends on pydantic and the standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from imgsrc.secretfields import MASK, secret_field_names

__all__ = [
    "ID",
    "ZERO_TIME",
    "CreatorScope",
    "CreatorType",
    "Events",
    "StateError",
    "Timestamp",
    "WireModel",
    "omitted",
    "stamp",
    "utcnow",
]


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are refused (a typo must not be silently dropped), and secret
    fields never show in reprs (so they cannot leak through logs or tracebacks)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        hidden = secret_field_names(type(self))
        for name, value in super().__repr_args__():
            yield name, (MASK if name in hidden and value is not None else value)


def _is_none(value: object) -> bool:
    return value is None


def omitted(**kwargs: Any) -> Any:
    """A field that may be absent: ``None`` means "not set" and is left out of the JSON (the published schemas
    type such fields as non-nullable strings or objects, so ``null`` would be invalid there)."""
    return Field(default=None, exclude_if=_is_none, **kwargs)


# --- timestamps ---------------------------------------------------------------------------------------------------

_SEED_FORMAT = "%m/%d/%Y %H:%M:%S"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class Timestamp(datetime):
    """A UTC instant on the wire.

    Serialises as RFC 3339 with milliseconds and ``Z`` (``2026-11-28T03:55:00.123Z``); the zero time (a moment that
    has not happened yet) as ``0001-01-01T00:00:00Z``, as Cycle's clients expect. Parsing accepts RFC 3339 and the
    ``MM/DD/YYYY HH:MM:SS`` form found in Cycle's published examples; a timestamp parsed from text remembers that
    text and serialises back to it, so documents round-trip unchanged.
    """

    _text: str | None = None

    @classmethod
    def of(cls, value: datetime, text: str | None = None) -> Timestamp:
        """Convert any aware datetime (naive ones are taken as UTC)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        stamp = cls(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=UTC,
        )
        stamp._text = text
        return stamp

    @classmethod
    def parse(cls, text: str) -> Timestamp:
        """Parse RFC 3339 or the seed's ``MM/DD/YYYY HH:MM:SS``; raise ``ValueError`` otherwise."""
        if _RFC3339.match(text):
            return cls.of(datetime.fromisoformat(text.replace("z", "Z").replace("t", "T")), text)
        try:
            return cls.of(datetime.strptime(text, _SEED_FORMAT).replace(tzinfo=UTC), text)
        except ValueError:
            raise ValueError(f"not an RFC 3339 timestamp: {text[:40]!r}") from None

    def wire(self) -> str:
        """The wire form: the original text if this was parsed, else canonical RFC 3339."""
        if self._text is not None:
            return self._text
        if self.year == 1 and self.month == 1 and self.day == 1 and not (self.hour or self.minute or self.second):
            return "0001-01-01T00:00:00Z"
        return self.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.microsecond // 1000:03d}Z"

    @property
    def is_zero(self) -> bool:
        return self.year == 1

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any) -> Timestamp:
            if isinstance(value, Timestamp):
                return value
            if isinstance(value, datetime):
                return cls.of(value)
            if isinstance(value, str):
                return cls.parse(value)
            raise ValueError("a timestamp must be an RFC 3339 string")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: v.wire() if isinstance(v, Timestamp) else cls.of(v).wire(), when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time", "examples": ["2026-11-28T03:55:00.123Z"]}


ZERO_TIME = Timestamp(1, 1, 1, tzinfo=UTC)


def stamp(value: datetime | None) -> Timestamp:
    """A stored moment on the wire: the zero time when it has not happened (``None``)."""
    return Timestamp.of(value) if value is not None else ZERO_TIME


def utcnow() -> Timestamp:
    """Now, at millisecond precision (what the wire and every database keep)."""
    now = datetime.now(UTC)
    return Timestamp.of(now.replace(microsecond=now.microsecond // 1000 * 1000))


# --- common parts -------------------------------------------------------------------------------------------------

ID = Annotated[str, Field(pattern=r"^[0-9a-f]{24}$", description="A 24 character hex string (ObjectId style).")]

CreatorType = Literal["account", "environment", "platform", "platform-pipeline", "employee", "api-key", "visitor"]


class CreatorScope(WireModel):
    """Who created a resource. Requests made with an API key create ``api-key`` creators."""

    id: str
    type: CreatorType


class StateError(WireModel):
    """The last error of a resource's state."""

    message: str
    time: Timestamp | None = omitted()


class Events(WireModel):
    """Timestamps of a resource's life; one that has not happened is the zero time."""

    created: Timestamp
    updated: Timestamp
    deleted: Timestamp
