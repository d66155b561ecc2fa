"""Builds of docker-file images through the API, with real git servers (HTTP Basic auth, ssh), a served ``.tar.gz``,
real registries for ``FROM`` (anonymous Docker Hub stand-in, Basic-auth private registry) and real buildah."""

from __future__ import annotations

import gzip
import io
import json
import secrets
import tarfile
import time
from typing import Any

import pytest

from imgsrc.builder import GitSource, TarballSource
from imgsrc.errors import InvalidArgumentError
from imgsrc.images.schemas import ImageOverride
from imgsrc.jobs.build_import import context_source, describe_context, registry_credentials
from imgsrc.sources.origins import DockerfileCredential, DockerFileDetails
from tests.api.helpers import assert_cycle_schema, assert_error
from tests.factory.buildenv import (
    GIT_PASSWORD,
    GIT_USER,
    SSH_PASSPHRASE,
    BuildWorld,
    FileServer,
    SshWorld,
    build_world,
    builder,
    context_targz,
    file_server,
    processes_with,
    sleeping_dockerfile,
    ssh_world,
)
from tests.factory.conftest import Factory, FactoryMaker
from tests.factory.uploadkit import work_left

__all__ = ["build_world", "builder", "file_server", "ssh_world"]

pytestmark = [pytest.mark.buildah, pytest.mark.registry]


def docker_file(**details: Any) -> dict[str, Any]:
    return {"type": "docker-file", "details": details}


def build(factory: Factory, origin: dict[str, Any], **image_fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a source and an image, build it, wait: (the image as it ended, the job)."""
    image, job = factory.import_image(origin, **image_fields)
    return image, job


def stored_files(factory: Factory, image: dict[str, Any]) -> dict[str, bytes]:
    """The regular files of the image's layers as stored (later layers win), read from the content store."""
    blobs = factory.data_dir / "store" / "blobs" / "sha256"
    manifest = json.loads((blobs / image["backend"]["file_id"].split(":", 1)[1]).read_bytes())
    files: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        data = (blobs / layer["digest"].split(":", 1)[1]).read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                extracted = tar.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    files[member.name.lstrip("./")] = extracted.read()
    return files


def test_build_from_git_over_http_with_basic_auth_and_build_args(builder: Factory, build_world: BuildWorld) -> None:
    """The context is cloned with the origin's HTTP credentials; build args reach RUN; the image goes through
    building → verifying → saving → live with its layers, config and manifest in the store; the password never
    appears in the build log; nothing is left in the work directory."""
    image, job = build(builder, docker_file(repo=build_world.repo()), build={"args": {"GREETING": "hi there"}})
    assert job["state"]["current"] == "completed", job
    assert [s["caption"] for s in job["tasks"][0]["steps"]] == ["Fetch context", "Build", "Verify", "Save"]
    assert image["state"]["current"] == "live", image
    assert_cycle_schema("Image", image)
    assert image["backend"]["provider"] == "local"
    assert image["config"]["labels"]["org.example.built"] == "yes"
    assert image["config"]["command"] == ["cat", "/greeting"]
    assert image["build"] == {"args": {"GREETING": "hi there"}, "use_disk": False}
    files = stored_files(builder, image)
    assert files["greeting"] == b"greeting=hi there\n"
    assert files["hello.txt"] == b"hello from git\n"
    assert "bin/busybox" in files, "the base image's layer is part of the stored image"
    log = builder.log(image["id"])
    assert "build-step-ran" in log, "the builder's output is in the build log"
    assert image["backend"]["file_id"] in log
    assert GIT_PASSWORD not in log
    assert any(authenticated for _, _, authenticated in build_world.git_http.requests)
    assert work_left(builder) == []


def test_a_second_build_stores_shared_layers_once(builder: Factory, build_world: BuildWorld) -> None:
    """Two builds on the same base: the base layer the first stored is adopted by the second, not copied."""
    first, _ = build(builder, docker_file(repo=build_world.repo(), build_file="Dockerfile.multi"))
    base_layer = json.loads(
        (builder.data_dir / "store/blobs/sha256" / first["backend"]["file_id"].split(":", 1)[1]).read_bytes()
    )["layers"][0]["digest"]
    stored = builder.data_dir / "store/blobs/sha256" / base_layer.split(":", 1)[1]
    inode = stored.stat().st_ino
    second, job = build(builder, docker_file(repo=build_world.repo(), build_file="Dockerfile.multi"))
    assert job["state"]["current"] == "completed", job
    assert f"layer {base_layer[:19]}" in builder.log(second["id"])
    assert "already stored" in builder.log(second["id"])
    assert stored.stat().st_ino == inode, "the stored copy stays the one copy"


def test_multi_stage_build_from_an_existing_source_inherits_its_credentials(
    builder: Factory, build_world: BuildWorld
) -> None:
    """A source naming another with `existing.source_id` takes its repository and HTTP credentials and overrides
    only the Dockerfile: a multi-stage build whose result holds the file the first stage made."""
    parent = builder.source(docker_file(repo=build_world.repo()))
    child = builder.source(docker_file(existing={"source_id": parent["id"]}, build_file="Dockerfile.multi"))
    image = builder.image(child["id"])
    job = builder.wait(builder.start_import(image["id"]))
    assert job["state"]["current"] == "completed", job
    live = builder.get(f"/v1/images/{image['id']}").json()["data"]
    files = stored_files(builder, live)
    assert files["artifact"] == b"compiled-in-stage-one\n"
    assert "hello.txt" not in files, "only what the final stage copies is in the image"


def test_private_from_is_pulled_with_the_origin_credentials(builder: Factory, build_world: BuildWorld) -> None:
    """`credentials` authenticate the pull of a FROM image on a Basic-auth registry; the token stays out of the
    build log. Without them the build fails."""
    private = build_world.private
    assert private.username is not None
    assert private.password is not None
    creds = [{"url": private.url, "username": private.username, "token": private.password}]
    image, job = build(
        builder, docker_file(repo=build_world.repo(), build_file="Dockerfile.private", credentials=creds)
    )
    assert job["state"]["current"] == "completed", job
    assert stored_files(builder, image)["private"] == b"private-base-ok\n"
    assert private.password not in builder.log(image["id"])

    refused, job = build(builder, docker_file(repo=build_world.repo(), build_file="Dockerfile.private"))
    assert job["state"]["current"] == "error"
    assert refused["state"]["current"] == "new"
    assert refused["state"]["error"]["message"].startswith("the build failed")


def test_build_over_ssh_with_a_passphrase_protected_key(
    builder: Factory, build_world: BuildWorld, ssh_world: SshWorld
) -> None:
    """An ssh repository with a passphrase-protected key; neither key nor passphrase reaches the build log."""
    url = ssh_world.sshd.url(build_world.git_root / "app.git")
    auth = {
        "type": "ssh",
        "credentials": {
            "username": ssh_world.sshd.user,
            "passphrase": SSH_PASSPHRASE,
            "private_key": ssh_world.key.private_key,
        },
    }
    image, job = build(builder, docker_file(repo={"url": url, "auth": auth, "ref": {"type": "tag", "value": "v1"}}))
    assert job["state"]["current"] == "completed", job
    assert stored_files(builder, image)["hello.txt"] == b"hello from git\n"
    log = builder.log(image["id"])
    assert SSH_PASSPHRASE not in log
    key_body = ssh_world.key.private_key.splitlines()[1]
    assert key_body not in log


def test_build_from_a_served_targz_and_from_the_image_override(builder: Factory, file_server: FileServer) -> None:
    """`targz_url` is the context; an image's `override.targz_url` replaces it for that image only; the image's
    `build.use_disk` puts the builder's scratch space on disk."""
    dockerfile = "FROM busybox\nCOPY which.txt /which.txt\n"
    file_server.files["/a.tar.gz"] = context_targz({"Dockerfile": dockerfile, "which.txt": "source\n"})
    file_server.files["/b.tar.gz"] = context_targz({"Dockerfile": dockerfile, "which.txt": "override\n"})
    source = builder.source(docker_file(targz_url=f"{file_server.url}/a.tar.gz"))
    plain = builder.image(source["id"])
    overridden = builder.image(
        source["id"], override={"targz_url": f"{file_server.url}/b.tar.gz"}, build={"args": {}, "use_disk": True}
    )
    for image in (plain, overridden):
        job = builder.wait(builder.start_import(image["id"]))
        assert job["state"]["current"] == "completed", job
    read = {
        i["id"]: stored_files(builder, builder.get(f"/v1/images/{i['id']}").json()["data"]) for i in (plain, overridden)
    }
    assert read[plain["id"]]["which.txt"] == b"source\n"
    assert read[overridden["id"]]["which.txt"] == b"override\n"
    assert file_server.requests == ["/a.tar.gz", "/b.tar.gz"]
    assert "scratch space on disk" in builder.log(overridden["id"]), "`build.use_disk` reaches the builder"


def test_a_failing_run_step_is_the_images_error(builder: Factory, build_world: BuildWorld) -> None:
    """A RUN that exits non-zero: the job fails, the image is back to `new` with the failing step and its exit
    status as the error, its output is in the build log, and nothing is left behind."""
    image, job = build(builder, docker_file(repo=build_world.repo(), build_file="Dockerfile.fail"))
    assert job["state"]["current"] == "error"
    assert image["state"]["current"] == "new"
    message = image["state"]["error"]["message"]
    assert "exit" in message
    assert "exit 3" in message or "status 3" in message, message
    assert job["state"]["error"]["message"] == message
    log = builder.log(image["id"])
    assert "about-to-fail" in log
    assert f"error: {message.splitlines()[0]}" in log
    assert work_left(builder) == []


def test_a_dockerfile_leading_outside_the_context_is_the_images_error(
    builder: Factory, build_world: BuildWorld
) -> None:
    """`build_file` that escapes the checkout through a symbolic link (to /etc/passwd) fails the image with a
    clear error and is never handed to buildah; `..` is refused when the source is created (422)."""
    image, job = build(builder, docker_file(repo=build_world.repo(), build_file="outside"))
    assert job["state"]["current"] == "error"
    assert image["state"]["current"] == "new"
    assert "outside the build context" in image["state"]["error"]["message"]
    assert "== Build" not in builder.log(image["id"])
    refused = builder.post(
        "/v1/images/sources", json={"type": "direct", "origin": docker_file(repo=build_world.repo(), build_file="../x")}
    )
    assert_error(refused, 422, "422.invalid-argument")


def test_a_hostile_context_archive_is_refused(builder: Factory, file_server: FileServer) -> None:
    """A `.tar.gz` context with an entry climbing out of its root fails the build; nothing is written outside."""
    file_server.files["/evil.tar.gz"] = context_targz({"Dockerfile": "FROM busybox\n"}, hostile=True)
    image, job = build(builder, docker_file(targz_url=f"{file_server.url}/evil.tar.gz"))
    assert job["state"]["current"] == "error"
    assert "escaped.txt" in image["state"]["error"]["message"]
    assert not list(builder.data_dir.rglob("escaped.txt"))
    assert work_left(builder) == []


def test_a_context_is_required(builder: Factory) -> None:
    """A docker-file source with neither `repo` nor `targz_url` fails its builds with a clear message."""
    image, job = build(builder, docker_file(build_file="Dockerfile"))
    assert job["state"]["current"] == "error"
    assert "`repo` or `targz_url`" in image["state"]["error"]["message"]


def test_deleting_the_image_during_a_build_stops_it(builder: Factory, file_server: FileServer) -> None:
    """While a five-minute RUN step is building, the build log already shows the builder's output; deleting the
    image cancels the job, kills the build's processes and removes its work directory well before the step
    could have finished."""
    marker = f"marker-{secrets.token_hex(6)}"
    file_server.files["/sleep.tar.gz"] = context_targz({"Dockerfile": sleeping_dockerfile(marker)})
    source = builder.source(docker_file(targz_url=f"{file_server.url}/sleep.tar.gz"))
    image = builder.image(source["id"])
    job_id = builder.start_import(image["id"])
    deadline = time.monotonic() + 60
    while not processes_with(marker):
        assert time.monotonic() < deadline, "the RUN step never started"
        time.sleep(0.05)
    assert builder.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"] == "building"
    while "STEP 2/2" not in builder.log(image["id"]):
        assert time.monotonic() < deadline, "the build log does not follow the build"
        time.sleep(0.05)

    deleted = builder.delete(f"/v1/images/{image['id']}")
    assert deleted.status_code == 200, deleted.text
    job = builder.wait(job_id, timeout=60)
    assert job["state"]["current"] == "error"
    assert processes_with(marker) == []
    builder.wait(deleted.json()["data"]["job"]["id"], timeout=60)
    assert builder.get(f"/v1/images/{image['id']}").json()["data"]["state"]["current"] == "deleted"
    assert work_left(builder) == []


def test_importing_an_image_of_a_none_source_is_a_422(builder: Factory) -> None:
    """A source without an origin has nothing to import or build: the import request is refused."""
    source = builder.source({"type": "none"})
    image = builder.image(source["id"])
    response = builder.post(f"/v1/images/{image['id']}/tasks", json={"action": "import"})
    error = assert_error(response, 422, "422.invalid-argument")
    assert "none" in error["detail"]


def test_build_secrets_stay_out_of_job_records(builder: Factory, build_world: BuildWorld) -> None:
    """The job, the image and the build log of a build with credentials hold none of them."""
    private = build_world.private
    assert private.password is not None
    creds = [{"url": private.url, "username": GIT_USER, "token": private.password}]
    image, job = build(builder, docker_file(repo=build_world.repo(), credentials=creds))
    everything = json.dumps(job) + json.dumps(image) + builder.log(image["id"])
    for secret in (GIT_PASSWORD, private.password):
        assert secret not in everything


# --- the origin, translated for the builder (pure) -----------------------------------------------------------


def test_the_context_comes_from_the_override_then_the_repo_then_the_targz() -> None:
    ssh = {"type": "ssh", "credentials": {"username": "git", "passphrase": "", "private_key": "KEY"}}
    details = DockerFileDetails.model_validate({"repo": {"url": "ssh://git@example.com/r.git", "auth": ssh}})
    source = context_source(details, ImageOverride())
    assert isinstance(source, GitSource)
    assert source.ssh_private_key == "KEY"
    assert source.ssh_passphrase is None, "an empty passphrase means an unencrypted key"
    overridden = context_source(details, ImageOverride(targz_url="https://example.com/c.tar.gz"))
    assert overridden == TarballSource("https://example.com/c.tar.gz")
    targz = DockerFileDetails.model_validate({"targz_url": "https://example.com/t.tar.gz"})
    assert context_source(targz, ImageOverride()) == TarballSource("https://example.com/t.tar.gz")


def test_described_contexts_mask_url_credentials() -> None:
    source = GitSource("https://user:pa55word@example.com/r.git", ref_type="tag", ref_value="v1")
    shown = describe_context(source)
    assert "pa55word" not in shown
    assert shown.endswith("(tag v1)")
    assert "s3cret" not in describe_context(TarballSource("https://tok:s3cret@example.com/c.tar.gz"))


def test_registry_credentials_need_a_url_and_a_token() -> None:
    good = DockerfileCredential(url="http://127.0.0.1:5000", username="u", token="t")
    assert [(c.url, c.username, c.token) for c in registry_credentials([good])] == [("http://127.0.0.1:5000", "u", "t")]
    with pytest.raises(InvalidArgumentError) as caught:
        registry_credentials([good, DockerfileCredential(url="http://127.0.0.1:5000", username="u")])
    assert caught.value.source == "/origin/details/credentials/1"


def test_repositories_on_the_servers_own_disk_need_the_setting(
    make_factory: FactoryMaker, build_world: BuildWorld
) -> None:
    """A `file://` (or path) repository is refused unless `IMGSRC_BUILD_ALLOW_LOCAL_REPOS` says otherwise: a
    source's author must not read the server's disk by default."""
    local = {"url": f"file://{build_world.git_root / 'app.git'}"}
    hub = {"dockerhub_registry_url": build_world.hub.url, "retries": 0}
    with make_factory(**hub) as refusing:
        image = refusing.image(refusing.source(docker_file(repo=local))["id"])
        job = refusing.wait(refusing.start_import(image["id"]))
        assert job["state"]["current"] == "error"
        assert "local" in job["state"]["error"]["message"].lower()
    with make_factory(build_allow_local_repos=True, **hub) as allowing:
        image = allowing.image(allowing.source(docker_file(repo=local))["id"])
        job = allowing.wait(allowing.start_import(image["id"]))
        assert job["state"]["current"] == "completed", job
