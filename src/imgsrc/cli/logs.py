"""Logging of the long-running commands (``serve``, ``worker``), configured once, with secrets kept out.

Two leaks are closed here rather than in every caller: URLs whose query carries a credential (the upload
``token``, say) are masked in every record, and the HTTP client libraries, which log full request URLs at INFO (a
webhook URL is itself a secret), only log warnings.
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["RedactQuerySecrets", "configure_logging"]

_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:token|api[_-]?key|key|password|passphrase|secret|access_token|signature)=)[^&\s\"']*",
    re.IGNORECASE,
)
MASK = "********"
HANDLER_NAME = "imgsrc"
# Libraries whose INFO lines are noise to an operator (alembic lists its plugins; the HTTP libraries log full
# URLs, and a webhook URL is itself a secret).
_QUIET = ("httpx", "httpcore", "botocore", "urllib3", "alembic")


class RedactQuerySecrets(logging.Filter):
    """Masks the values of credential-like query parameters in a record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(lambda m: m.group("key") + MASK, message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str) -> None:
    """One stderr handler on the root logger, at ``level`` (calling again replaces it rather than adding a second);
    uvicorn's loggers propagate to it."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):  # getLevelName answers "Level x" for unknown names
        message = f"unknown log level {level!r} (use DEBUG, INFO, WARNING or ERROR)"
        raise ValueError(message)  # noqa: TRY004 - a bad value, not a bad type
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactQuerySecrets())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
