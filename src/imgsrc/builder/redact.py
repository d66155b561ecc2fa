"""Redaction of secrets in text that leaves the builder (streamed output, log lines, error messages).

Git and buildah echo URLs, and a misbehaving tool could echo anything it was given, so every line they print
goes through a :class:`Redactor` before it reaches a callback or an exception: each registered secret value is
replaced by a fixed mask, and the userinfo of any ``scheme://user:pass@host`` URL is masked whatever it holds.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

__all__ = ["MASK", "Redactor", "redact_url"]

MASK = "********"

# ``scheme://userinfo@`` — userinfo cannot contain ``/``, ``@`` or whitespace in a well-formed URL; ``[^/@\s]``
# keeps the match inside one URL even on a line that holds several.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")

# Lines of a multi-line secret (a PEM private key) shorter than this are not registered on their own: the
# armour lines are public text and short lines would mask innocent output.
_MIN_LINE_SECRET = 16


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    if scheme.lower().startswith("http") or ":" in userinfo:
        return f"{scheme}{MASK}@"
    return match.group(0)  # a bare ssh/git user name ("git@") is no secret


def redact_url(url: str) -> str:
    """``url`` (or any text) with the userinfo of every ``scheme://userinfo@`` URL masked: all of it for http(s),
    where a token is often passed as the user name; for other schemes when it holds a password."""
    return _URL_USERINFO.sub(_mask_userinfo, url)


class Redactor:
    """Masks registered secret values and URL userinfo in text.

    Every non-empty secret is masked, however short: leaking a short password is worse than a mangled log
    line. Besides the value itself, the Basic-auth encoding ``base64(user:secret)`` can be registered with
    :meth:`add_basic`, and each long line of a multi-line secret is registered too, since output is redacted
    line by line. The longest secrets are replaced first so that one secret containing another is masked whole.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register ``secret`` (``None`` and ``""`` are ignored)."""
        if not secret:
            return
        self._secrets.add(secret)
        if "\n" in secret:
            for line in secret.splitlines():
                stripped = line.strip()
                if len(stripped) >= _MIN_LINE_SECRET and not stripped.startswith("-----"):
                    self._secrets.add(stripped)
        self._pattern = None

    def add_basic(self, username: str, secret: str | None) -> None:
        """Register ``secret`` and its HTTP Basic / containers-auth encoding with ``username``."""
        if not secret:
            return
        self.add(secret)
        self.add(base64.b64encode(f"{username}:{secret}".encode()).decode())

    @property
    def longest(self) -> int:
        """Length of the longest registered secret (0 when none): how far a secret can reach across a cut."""
        return max((len(s) for s in self._secrets), default=0)

    def __call__(self, text: str) -> str:
        if self._secrets:
            if self._pattern is None:
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            text = self._pattern.sub(MASK, text)
        return redact_url(text)

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secrets>)"
