"""The SDK's one HTTP adapter: a call is described once (:class:`Call`, pure), then sent by the synchronous or the
asynchronous transport, which share the decoding of answers and the wrapping of failures.

httpx is the transport; tests and embedders pass their own ``httpx`` transport (``MockTransport``, an ASGI app).
No retries happen here: a request is sent once, and the caller decides (see ``Jobs.wait`` for the one place that
rides out named transient failures).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from imgsrc import __version__
from imgsrc.client.config import Connection, display_url
from imgsrc.client.errors import ClientConnectionError, UnexpectedResponseError, error_from_answer
from imgsrc.client.query import Page

__all__ = ["Answer", "AsyncHttp", "Call", "SyncHttp", "many", "one"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Answer:
    """A decoded success: the root document's ``data``, the ``X-Total-Count`` header and ``includes``."""

    status: int
    data: Any
    total: int | None = None
    includes: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call: what to send and how to read the answer's ``data``.

    ``anonymous`` calls carry no API key (a credential in ``params`` stands in for it: the upload token);
    ``redact`` lists values that must not appear in any message about the call (that credential); ``timeout``
    replaces the client's timeouts for this call; ``headers`` are added to the client's. A streamed body is passed
    to ``run`` rather than described here, since a synchronous and an asynchronous stream differ."""

    method: str
    path: str
    parse: Callable[[Answer], T]
    params: Sequence[tuple[str, str]] = ()
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    anonymous: bool = False
    redact: tuple[str, ...] = field(default=(), repr=False)
    timeout: httpx.Timeout | None = None


def one(model: type[M]) -> Callable[[Answer], M]:
    """Read ``data`` as one resource."""

    def parse(answer: Answer) -> M:
        # Answers are read leniently: a newer server may add fields an older SDK does not know. (Requests are
        # built strictly, so a typo in client code still fails before anything is sent.)
        return model.model_validate(answer.data, extra="ignore")

    return parse


def many(model: type[M]) -> Callable[[Answer], Page[M]]:
    """Read ``data`` as a page of resources."""

    def parse(answer: Answer) -> Page[M]:
        if not isinstance(answer.data, list):
            raise UnexpectedResponseError(f"expected a list of {model.__name__}, got {type(answer.data).__name__}")
        items = (model.model_validate(item, extra="ignore") for item in answer.data)
        return Page(items, total=answer.total, includes=answer.includes)

    return parse


def _headers(connection: Connection) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": f"imgsrc-python/{__version__}"}
    if connection.api_key:
        headers["Authorization"] = f"Bearer {connection.api_key}"
    if connection.hub_id:
        headers["X-Hub-Id"] = connection.hub_id
    return headers


def _unreachable(connection: Connection, exc: httpx.RequestError, redact: Sequence[str] = ()) -> ClientConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        why = "timed out"
    elif isinstance(exc, httpx.ConnectError):
        why = f"connection failed ({str(exc)[:200] or type(exc).__name__})"
    else:
        why = f"{type(exc).__name__}: {str(exc)[:200]}"
    for secret in redact:
        if secret:
            why = why.replace(secret, "********")
    return ClientConnectionError(f"cannot reach the server at {display_url(connection.base_url)}: {why}")


def _request(
    client: httpx.Client | httpx.AsyncClient,
    call: Call[Any],
    content: Iterable[bytes] | AsyncIterable[bytes] | None,
) -> httpx.Request:
    """The request of a call: JSON body or streamed content, the call's headers and timeout, and no API key for an
    anonymous call."""
    request = client.build_request(
        call.method,
        call.path,
        params=list(call.params),
        json=call.body if content is None else None,
        content=content,
        headers=dict(call.headers),
        timeout=call.timeout if call.timeout is not None else httpx.USE_CLIENT_DEFAULT,
    )
    if call.anonymous:
        request.headers.pop("Authorization", None)
    return request


def _total(response: httpx.Response) -> int | None:
    raw = response.headers.get("X-Total-Count")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _finish(call: Call[T], response: httpx.Response) -> T:
    """Decode the answer: raise the error it carries, or parse its ``data``."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
        if response.is_success:
            kind = response.headers.get("Content-Type", "no content type")
            raise UnexpectedResponseError(f"{call.method} {call.path}: the answer is not JSON ({kind})") from None
    if not response.is_success:
        raise error_from_answer(response.status_code, body)
    if not isinstance(body, dict) or "data" not in body:
        raise UnexpectedResponseError(f"{call.method} {call.path}: the answer has no `data` document")
    includes = body.get("includes")
    answer = Answer(
        status=response.status_code,
        data=body["data"],
        total=_total(response),
        includes=includes if isinstance(includes, dict) else {},
    )
    try:
        return call.parse(answer)
    except ValidationError as exc:
        # Only locations and messages: the input values may be secrets (a new key's secret, say).
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        where = "/" + "/".join(str(part) for part in first["loc"])
        raise UnexpectedResponseError(
            f"{call.method} {call.path}: the answer does not match the expected {exc.title} at {where}: {first['msg']}"
        ) from None


class SyncHttp:
    """Sends calls with an ``httpx.Client``."""

    def __init__(self, connection: Connection, *, timeout: float, transport: httpx.BaseTransport | None) -> None:
        self.connection = connection
        self._client = httpx.Client(
            base_url=connection.base_url, headers=_headers(connection), timeout=timeout, transport=transport
        )

    def run(self, call: Call[T], *, content: Iterable[bytes] | None = None) -> T:
        """Send the call (with ``content`` streamed as its body, if given) and decode the answer."""
        try:
            response = self._client.send(_request(self._client, call, content))
        except httpx.RequestError as exc:
            raise _unreachable(self.connection, exc, call.redact) from exc
        return _finish(call, response)

    def close(self) -> None:
        self._client.close()


class AsyncHttp:
    """Sends calls with an ``httpx.AsyncClient``."""

    def __init__(self, connection: Connection, *, timeout: float, transport: httpx.AsyncBaseTransport | None) -> None:
        self.connection = connection
        self._client = httpx.AsyncClient(
            base_url=connection.base_url, headers=_headers(connection), timeout=timeout, transport=transport
        )

    async def run(self, call: Call[T], *, content: AsyncIterable[bytes] | None = None) -> T:
        """See :meth:`SyncHttp.run`."""
        try:
            response = await self._client.send(_request(self._client, call, content))
        except httpx.RequestError as exc:
            raise _unreachable(self.connection, exc, call.redact) from exc
        return _finish(call, response)

    async def close(self) -> None:
        await self._client.aclose()
