"""The read-only OCI distribution API (pull side) under ``/v2``.

``GET /v2/`` · ``GET /v2/token`` · ``GET|HEAD /v2/<name>/manifests/<reference>`` ·
``GET|HEAD /v2/<name>/blobs/<digest>`` · ``GET /v2/<name>/tags/list``; every write (``POST``, ``PUT``,
``PATCH``, ``DELETE``) anywhere under ``/v2`` is 405 ``UNSUPPORTED``; any other path is 404 ``UNSUPPORTED``.
Repositories, tags and visibility: :mod:`imgsrc.images.serving`; authentication: :mod:`imgsrc.api.v2.auth`.

Each request is checked in this order: credentials (401 ``UNAUTHORIZED`` with a Bearer challenge), the
``images-view`` capability (403 ``DENIED``), the request itself (400 ``NAME_INVALID``…), a token's grant for the
repository (401 with the challenge naming the scope to ask for), then the repository, manifest or blob (404).
Every answer -- errors and crashes included -- is in the distribution format (:class:`RegistryRoute`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from imgsrc.api.v2.auth import (
    Caller,
    TokenSigner,
    caller_of,
    challenge,
    granted_scopes,
    key_of_token_request,
    parse_scopes,
)
from imgsrc.api.v2.errors import API_VERSION_HEADER, oci_error, oci_error_for
from imgsrc.api.v2.params import check_digest, check_name, page_of, parse_page_size, parse_range, parse_reference
from imgsrc.api.v2.streaming import FileSliceResponse
from imgsrc.errors import AuthInvalidError, ImgsrcError, NotFoundError
from imgsrc.images.serving import (
    BLOB_UNKNOWN,
    MANIFEST_UNKNOWN,
    BlobLocation,
    find_manifest,
    list_tags,
    locate_blob,
)
from imgsrc.images.serving import resolve_repository as _resolve
from imgsrc.runtime import Runtime

__all__ = ["RegistryRoute", "router"]

log = logging.getLogger(__name__)

_WRITES = ("POST", "PUT", "PATCH", "DELETE")
_TOKEN_PATH = "/v2/token"  # noqa: S105 - a URL path, not a password


class RegistryRoute(APIRoute):
    """A route answering in the distribution format whatever happens: project errors are translated by
    :func:`~imgsrc.api.v2.errors.oci_error_for`, 401s carry the challenge, anything unexpected is a logged 500
    naming the request ID. Every answer carries ``Docker-Distribution-API-Version``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except ImgsrcError as exc:
                response = _error_response(request, exc)
            except Exception:  # the /v2 boundary: nothing may answer in another format
                request_id = getattr(request.state, "request_id", "?")
                log.exception("request %s crashed", request_id)
                response = oci_error(500, "UNKNOWN", f"internal error; request id {request_id}")
            response.headers.setdefault(*API_VERSION_HEADER)
            return response

        return guarded


router = APIRouter(prefix="/v2", route_class=RegistryRoute, include_in_schema=False)


def _error_response(request: Request, exc: ImgsrcError) -> Response:
    status, code = oci_error_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        if request.url.path == _TOKEN_PATH:
            headers["WWW-Authenticate"] = f'Basic realm="{_realm_base(request)}"'
        else:
            name = request.path_params.get("name")
            scope = f"repository:{name}:pull" if isinstance(name, str) and _valid_name(name) else None
            headers |= challenge(_realm_base(request), scope)
    if status == 416 and isinstance(exc.extra.get("size"), int):
        headers["Content-Range"] = f"bytes */{exc.extra['size']}"
    if status >= 500:
        log.error("request %s failed: %s", getattr(request.state, "request_id", "?"), exc.detail, exc_info=exc)
    return oci_error(status, code, exc.detail, headers=headers)


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except ImgsrcError:
        return False
    return True


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _realm_base(request: Request) -> str:
    public = _runtime(request).settings.public_url
    return (public or str(request.base_url)).rstrip("/")


def _signer(request: Request) -> TokenSigner:
    """The token signer of the running server, derived once per runtime from its vault."""
    runtime = _runtime(request)
    cached: tuple[Runtime, TokenSigner] | None = getattr(request.app.state, "v2_token_signer", None)
    if cached is None or cached[0] is not runtime:
        cached = (runtime, TokenSigner.from_vault(runtime.vault))
        request.app.state.v2_token_signer = cached
    return cached[1]


def _caller(request: Request, session: Session) -> Caller:
    return caller_of(session, _signer(request), request.headers.get("authorization"))


def _puller(request: Request, session: Session, name: str) -> Caller:
    """The caller, allowed to pull from ``name`` as far as credentials, capability and token grant go (whether
    the repository exists for the caller is the next question)."""
    caller = _caller(request, session)
    caller.principal.require("images-view")
    check_name(name)
    if not caller.may_pull(name):
        raise AuthInvalidError("the token does not grant pull on this repository")
    return caller


@router.api_route("", methods=["GET", "HEAD"])
@router.api_route("/", methods=["GET", "HEAD"])
def base(request: Request) -> Response:
    """200 for any authenticated client: how clients detect the API and check credentials (login)."""
    with _runtime(request).db.session() as session:
        _caller(request, session)
    return JSONResponse({})


@router.api_route("/token", methods=["GET", "HEAD"])
def token(request: Request) -> Response:
    """The Bearer token service: Basic credentials (the API key as password) in, a five-minute token granting
    ``pull`` on the requested repositories out (see :mod:`imgsrc.api.v2.auth` for what is granted)."""
    with _runtime(request).db.session() as session:
        principal = key_of_token_request(session, request.headers.get("authorization"))
    requested = parse_scopes(request.query_params.getlist("scope"))
    issued = _signer(request).issue(principal, granted_scopes(principal, requested))
    body = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at.isoformat().replace("+00:00", "Z"),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.api_route("/{name:path}/manifests/{reference}", methods=["GET", "HEAD"])
def manifest(request: Request, name: str, reference: str) -> Response:
    """A manifest by tag (an image ID, ``latest``) or digest: the stored bytes, with their media type."""
    runtime = _runtime(request)
    with runtime.db.session() as session:
        caller = _puller(request, session, name)
        ref = parse_reference(reference)
        repository = _resolve(session, caller.principal, name)
        if not ref.stored:
            raise NotFoundError("manifest unknown to registry", code=MANIFEST_UNKNOWN)
        found = find_manifest(session, repository, ref.value)
    headers = {"Docker-Content-Digest": found.digest, "ETag": f'"{found.digest}"'}
    # HEAD reads the bytes too: manifests are small (bounded by max_manifest_bytes), and one code path keeps
    # Content-Length exactly the length GET sends.
    try:
        data = runtime.store.read_bytes(found.digest, runtime.settings.max_manifest_bytes)
    except NotFoundError as exc:
        log.warning("manifest %s of live image %s is missing from the store", found.digest, found.image_id)
        raise NotFoundError("manifest unknown to registry", code=MANIFEST_UNKNOWN) from exc
    return Response(content=data, media_type=found.media_type, headers=headers)


@router.api_route("/{name:path}/blobs/{digest}", methods=["GET", "HEAD"])
def blob(request: Request, name: str, digest: str) -> Response:
    """A blob a live image of the repository references, streamed from the store; one ``Range`` honoured."""
    runtime = _runtime(request)
    with runtime.db.session() as session:
        caller = _puller(request, session, name)
        ref = check_digest(digest)
        repository = _resolve(session, caller.principal, name)
        if not ref.stored:
            raise NotFoundError("blob unknown to registry", code=BLOB_UNKNOWN)
        location = locate_blob(session, runtime.store, repository, ref.value)
    if location.path is None:
        return _remote_blob(request, runtime, location)
    try:
        file = runtime.store.open(location.digest)
    except NotFoundError as exc:
        raise NotFoundError("blob unknown to registry", code=BLOB_UNKNOWN) from exc
    try:
        part = _blob_part(request, location.digest, os.fstat(file.fileno()).st_size)
    except BaseException:
        file.close()
        raise
    return FileSliceResponse(file, start=part.start, length=part.length, status_code=part.status, headers=part.headers)


@dataclass(frozen=True)
class _BlobPart:
    """What a blob request gets: bytes ``start`` to ``start + length``, the status and the headers to send."""

    start: int
    length: int
    status: int
    headers: dict[str, str]


def _blob_part(request: Request, digest: str, size: int) -> _BlobPart:
    """The part of a blob of ``size`` bytes the request asks for: the whole (200), or one ``Range`` (206),
    honoured only when ``If-Range``, if sent, names this blob."""
    etag = f'"{digest}"'
    headers = {"Docker-Content-Digest": digest, "ETag": etag, "Accept-Ranges": "bytes"}
    if_range = request.headers.get("if-range")
    wanted = parse_range(request.headers.get("range"), size) if if_range in (None, etag) else None
    if wanted is None:
        return _BlobPart(0, size, 200, headers)
    headers["Content-Range"] = wanted.content_range
    return _BlobPart(wanted.start, wanted.length, 206, headers)


def _remote_blob(request: Request, runtime: Runtime, location: BlobLocation) -> Response:
    """A layer of an image kept in the external registry: streamed through from there (the external registry's
    credentials are the server's, so clients cannot be redirected to it)."""
    external = runtime.external
    if external is None or location.remote_repository is None:
        raise NotFoundError("blob unknown to registry", code=BLOB_UNKNOWN)
    part = _blob_part(request, location.digest, location.size)
    start, length, status = part.start, part.length, part.status
    headers = {**part.headers, "Content-Length": str(length)}
    repository, digest = location.remote_repository, location.digest

    async def present() -> bool:
        async with external.client() as client:
            return await client.blob_exists(repository, digest)

    # Asked before the answer starts, so that a layer the external registry lost is BLOB_UNKNOWN, not a
    # transfer that breaks after a 200 (one HEAD to the store per blob request; a loss in between still breaks).
    if not anyio.from_thread.run(present):
        log.warning("blob %s of a live image is missing from the external registry (%s)", digest, repository)
        raise NotFoundError("blob unknown to registry", code=BLOB_UNKNOWN)
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers, media_type="application/octet-stream")

    async def body() -> AsyncIterator[bytes]:
        async with external.client() as client:
            async for chunk in client.stream_blob(repository, digest, start=start, length=length):
                yield chunk

    return StreamingResponse(body(), status_code=status, headers=headers, media_type="application/octet-stream")


@router.get("/{name:path}/tags/list")
def tags(request: Request, name: str) -> Response:
    """The repository's tags in ASCII order, paginated with ``n`` and ``last``; ``Link`` when more follow."""
    runtime = _runtime(request)
    with runtime.db.session() as session:
        caller = _puller(request, session, name)
        n = parse_page_size(request.query_params.get("n"))
        last = request.query_params.get("last")
        repository = _resolve(session, caller.principal, name)
        every = list_tags(session, repository)
    page, more = page_of(every, n, last)
    headers: dict[str, str] = {}
    if more:
        query = urlencode({"n": n, "last": page[-1]})
        headers["Link"] = f'</v2/{quote(name)}/tags/list?{query}>; rel="next"'
    return JSONResponse({"name": name, "tags": page}, headers=headers)


@router.api_route("/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def elsewhere(request: Request, rest: str) -> Response:
    """Writes are refused (the registry is read-only); other endpoints (catalog, referrers…) do not exist."""
    if request.method in _WRITES:
        return oci_error(405, "UNSUPPORTED", "this registry is read-only", headers={"Allow": "GET, HEAD"})
    return oci_error(404, "UNSUPPORTED", f"no endpoint {request.method} /v2/{rest}", headers={})
