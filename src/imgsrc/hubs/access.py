"""Who is calling and what they may do: capabilities of API keys, and ACLs on sources (pure rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from imgsrc.errors import PermissionsError

__all__ = ["Principal", "Privilege"]

Privilege = Literal["view", "modify", "manage"]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an API key of one hub."""

    key_id: str
    hub_id: str
    capabilities: frozenset[str]
    role_id: str | None

    @property
    def is_all(self) -> bool:
        """Keys holding ``all`` have every capability and are not restricted by ACLs."""
        return "all" in self.capabilities

    def has(self, capability: str) -> bool:
        return self.is_all or capability in self.capabilities

    def require(self, capability: str) -> None:
        """Raise ``403.permissions`` naming the capability when the key lacks it."""
        if not self.has(capability):
            raise PermissionsError(f"this API key lacks the `{capability}` capability", capability=capability)

    def acl_allows(self, acl_roles: Mapping[str, Mapping[str, bool]] | None, privilege: Privilege) -> bool:
        """With no ACL, capabilities alone decide. With one, the key's role must be listed with the privilege."""
        if acl_roles is None or self.is_all:
            return True
        if self.role_id is None:
            return False
        entry = acl_roles.get(self.role_id)
        return bool(entry and entry.get(privilege))
