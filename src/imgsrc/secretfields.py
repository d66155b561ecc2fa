"""Secret fields of wire models: marking, finding, masking and restoring them.

A field annotated ``Annotated[str, SECRET]`` holds a credential. Secrets are stored encrypted, apart from the rest
of the document (see :mod:`imgsrc.vault`), and answered as the fixed mask ``"********"``. The functions here walk
any model generically, so a new secret field only needs the annotation.

Secrets are addressed by JSON pointer (``/details/auth/details/token``) relative to the model walked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, TypeVar, get_args

from pydantic import BaseModel

__all__ = [
    "MASK",
    "SECRET",
    "SecretMarker",
    "apply_secrets",
    "find_secrets",
    "mask_secrets",
    "secret_pointers",
    "secret_values",
]

MASK = "********"

M = TypeVar("M", bound=BaseModel)


class SecretMarker:
    """Annotation metadata that marks a string field as a secret."""

    def __repr__(self) -> str:
        return "SECRET"


SECRET = SecretMarker()


def _marked(annotation: Any) -> bool:
    """True if the annotation, or any type nested in it (``Secret | None``), carries the marker."""
    if any(isinstance(m, SecretMarker) for m in getattr(annotation, "__metadata__", ())):
        return True
    return any(_marked(arg) for arg in get_args(annotation))


@functools.cache
def secret_field_names(cls: type[BaseModel]) -> frozenset[str]:
    """Names of the fields of ``cls`` that hold secrets."""
    return _secret_fields(cls)


@functools.cache
def _secret_fields(cls: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        name
        for name, info in cls.model_fields.items()
        if any(isinstance(m, SecretMarker) for m in info.metadata) or _marked(info.annotation)
    )


def _is_secret_field(model: BaseModel, name: str) -> bool:
    return name in _secret_fields(type(model))


def _walk(value: Any, pointer: str) -> Iterator[tuple[str, BaseModel, str]]:
    """Yield ``(pointer, owner model, field name)`` of every secret field below ``value``."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            child = getattr(value, name)
            if _is_secret_field(value, name):
                yield f"{pointer}/{name}", value, name
            else:
                yield from _walk(child, f"{pointer}/{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{pointer}/{index}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{pointer}/{key}")


def secret_pointers(model: BaseModel) -> list[str]:
    """Pointers of every secret field present in the model's shape (set or not)."""
    return [pointer for pointer, _, _ in _walk(model, "")]


def secret_values(model: BaseModel) -> dict[str, str]:
    """Pointer → value of every secret field that is set, masks included."""
    found: dict[str, str] = {}
    for pointer, owner, name in _walk(model, ""):
        value = getattr(owner, name)
        if isinstance(value, str):
            found[pointer] = value
    return found


def find_secrets(model: BaseModel) -> dict[str, str]:
    """Pointer → value of every secret that is set (neither ``None`` nor the mask)."""
    return {pointer: value for pointer, value in secret_values(model).items() if value != MASK}


def _replace(model: M, decide: Any, pointer: str = "") -> M:
    """Rebuild ``model`` with each secret field set to ``decide(pointer, current value)``."""
    updates: dict[str, Any] = {}
    for name in type(model).model_fields:
        child = getattr(model, name)
        here = f"{pointer}/{name}"
        if _is_secret_field(model, name):
            new = decide(here, child)
            if new is not child:
                updates[name] = new
        elif isinstance(child, BaseModel):
            new_child = _replace(child, decide, here)
            if new_child is not child:
                updates[name] = new_child
        elif isinstance(child, list) and any(isinstance(i, BaseModel) for i in child):
            new_list = [
                _replace(item, decide, f"{here}/{i}") if isinstance(item, BaseModel) else item
                for i, item in enumerate(child)
            ]
            if any(a is not b for a, b in zip(new_list, child, strict=True)):
                updates[name] = new_list
    return model.model_copy(update=updates) if updates else model


def mask_secrets(model: M) -> M:
    """A copy with every set secret replaced by the mask (unset ones stay unset)."""
    return _replace(model, lambda _p, v: MASK if isinstance(v, str) else v)


def apply_secrets(model: M, secrets: dict[str, str]) -> M:
    """A copy where each secret field that is unset or masked takes its value from ``secrets`` (by pointer).
    A field that carries a real value keeps it: a new secret replaces the stored one."""

    def decide(pointer: str, value: Any) -> Any:
        if (value is None or value == MASK) and pointer in secrets:
            return secrets[pointer]
        return value

    return _replace(model, decide)
