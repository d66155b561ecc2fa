"""The asynchronous client against the real server: the same API, awaited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from imgsrc.client import AsyncClient, ImportProgress, Job, JobFailedError, NotFoundError
from tests.client.conftest import JOB_ID, job_document, registry_origin
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.server import LiveServer


def test_async_client_covers_the_source_life_cycle(server: LiveServer) -> None:
    """Create, list, iterate, get, update, delete and wait, all awaited; errors map as in the sync client."""

    async def scenario() -> None:
        async with AsyncClient(server.url, server.api_key, server.hub_id) as client:
            created = [await client.sources.create(name=f"async {n}", origin={"type": "none"}) for n in range(3)]
            page = await client.sources.list(page_size=2)
            assert (len(page), page.total) == (2, 3)
            walked = [s.id async for s in client.sources.iter(page_size=2)]
            assert sorted(walked) == sorted(s.id for s in created)
            assert (await client.sources.get("async-0")).id == created[0].id
            assert (await client.sources.update("async-0", name="renamed")).name == "renamed"
            seen: list[Job] = []

            async def record(job: Job) -> None:
                seen.append(job)

            done = await client.jobs.wait(
                await client.sources.delete("async-0"), timeout=30, poll=0.05, on_update=record
            )
            assert done.state.current == "completed"
            assert seen[-1] == done
            assert [j.id async for j in client.jobs.iter()] == [done.id]
            assert (await client.jobs.list()).total == 1
            assert (await client.hubs.current()).id == server.hub_id
            role = await client.roles.create("async role")
            assert [r.id for r in await client.roles.list()] == [role.id]
            key = await client.keys.create("async key", capabilities=["images-view"], role_id=role.id)
            assert (await client.keys.revoke(key.id)).id == key.id
            assert key.id not in [k.id for k in await client.keys.list()]
            with pytest.raises(NotFoundError):
                await client.sources.get("async-0")

    asyncio.run(scenario())


def test_async_wait_raises_the_jobs_message() -> None:
    async def scenario() -> None:
        transport = httpx.MockTransport(
            lambda request: httpx.Response(200, json={"data": job_document("error", "boom")})
        )
        async with AsyncClient("http://imgsrc.test", "imgsrc_k", "0" * 24, transport=transport) as client:
            with pytest.raises(JobFailedError, match="boom"):
                await client.jobs.wait(JOB_ID, poll=0)

    asyncio.run(scenario())


@pytest.mark.registry
def test_async_client_imports_an_image_to_live(server: LiveServer, registry: RunningRegistry, tmp_path: Path) -> None:
    """The image calls awaited: create, import with a coroutine progress callback, read, list, iterate, build log,
    pull reference, rename, delete."""
    pushed = push_image(registry, tmp_path, "async/app", "v1", layer_sizes=(1024,))

    async def scenario() -> None:
        async with AsyncClient(server.url, server.api_key, server.hub_id) as client:
            source = await client.sources.create(name="app", origin=registry_origin(registry, "async/app:v1"))
            image = await client.images.create(source.id)
            states: list[str] = []

            async def record(progress: ImportProgress) -> None:
                states.append(progress.state)

            live = await client.images.import_(image.id, poll=0.05, timeout=60, on_progress=record)
            assert live.backend.file_id == pushed.manifest_digest
            assert states[-1] == "live"
            assert (await client.images.get(image.id)).state.current == "live"
            assert [i.id for i in await client.images.list(state="live")] == [image.id]
            assert [i.id async for i in client.images.iter(source_id=source.id)] == [image.id]
            assert pushed.manifest_digest in (await client.images.build_log(image.id)).log
            assert (await client.images.pull_ref(image.id)).endswith(f"/{server.hub_id}/{source.id}:{image.id}")
            assert (await client.images.rename(image.id, "renamed")).name == "renamed"
            descriptor = await client.images.delete(image.id)
            assert (await client.jobs.wait(descriptor, timeout=30, poll=0.05)).state.current == "completed"
            prune = await client.images.prune([source.id])
            assert (await client.jobs.wait(prune, timeout=30, poll=0.05)).state.current == "completed"
            with pytest.raises(NotFoundError):
                await client.images.build_log("f" * 24)

    asyncio.run(scenario())
