"""Fixtures of the registry adapter tests: the real registries of :mod:`tests.support.registry`."""

from __future__ import annotations

from tests.support.registry import basic_registry, registry, token_registry

__all__ = ["basic_registry", "registry", "token_registry"]
