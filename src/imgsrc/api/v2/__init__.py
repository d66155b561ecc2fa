"""The read-only OCI distribution API (``/v2``): pulls of live images by any standard registry client.

Public API::

    router          the ``/v2`` routes; ``create_app`` includes it (they answer in the distribution format)
    TokenSigner     issues and verifies the registry's Bearer tokens

Everything else in this package is private.
"""

from __future__ import annotations

from imgsrc.api.v2.auth import TokenSigner
from imgsrc.api.v2.routes import router

__all__ = ["TokenSigner", "router"]
