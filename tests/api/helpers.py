"""Helpers for API tests: schema validation against the published Cycle schemas, and request builders."""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

# The published Cycle JSON Schemas (Apache-2.0, see tests/data/cycle/NOTICE.md), the contract of every answer.
SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "cycle" / "schemas.json"


@cache
def _bundle() -> dict[str, Any]:
    return json.loads(SCHEMAS.read_text())  # type: ignore[no-any-return]


def assert_cycle_response(operation: str, response: Any) -> dict[str, Any]:
    """The answer has the status the published spec documents and validates against its schema."""
    entry = _bundle()["responses"][operation]
    assert response.status_code == entry["status"], response.text
    body = response.json()
    jsonschema.validate(body, entry["schema"])
    return body  # type: ignore[no-any-return]


# Capabilities api.md adds to the published enum on purpose (`hubs-manage` is an extension of this project;
# `images-import` is api.md's capability for starting imports). Errors may name them in `extra.capability`.
EXTENSION_CAPABILITIES = ("hubs-manage", "images-import")


@cache
def _error_schema() -> dict[str, Any]:
    schema = json.loads(json.dumps(_bundle()["schemas"]["ErrorEnvelope"]))
    capability = schema["properties"]["error"]["properties"]["extra"]["properties"]["capability"]
    capability["enum"] = [*capability["enum"], *EXTENSION_CAPABILITIES]
    return schema  # type: ignore[no-any-return]


def assert_cycle_schema(name: str, document: Any) -> None:
    jsonschema.validate(document, _error_schema() if name == "ErrorEnvelope" else _bundle()["schemas"][name])


def assert_error(response: Any, status: int, code: str, source: str | None = None) -> dict[str, Any]:
    """An error envelope with this status and code (and pointer, when given), valid against the published schema."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["data"] is None
    assert body["error"]["code"] == code, body
    assert body["error"]["status"] == status
    if source is not None:
        assert body["error"].get("source") == source, body
    assert_cycle_schema("ErrorEnvelope", body)
    return body["error"]  # type: ignore[no-any-return]


def docker_hub(target: str = "redis:7", **details: Any) -> dict[str, Any]:
    return {"type": "docker-hub", "details": {"target": target, **details}}


def new_source(api: Any, origin: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    body = {"type": "direct", "origin": origin or docker_hub(), **fields}
    response = api.post("/v1/images/sources", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def wait_job(api: Any, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/v1/jobs/{job_id}").json()["data"]
        if job["state"]["current"] in ("completed", "error", "expired"):
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"job {job_id} still {job['state']['current']}"
        time.sleep(0.05)
