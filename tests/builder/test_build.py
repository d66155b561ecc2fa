"""Real buildah builds: private FROM images with credentials, the Docker Hub endpoint override, multi-stage
builds with build arguments, failing steps, and the produced OCI image layout inspected blob by blob."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.builder.conftest import PrivateBase, run
from tests.builder.ocilayout import read_layout
from tests.support.registry import RunningRegistry

from imgsrc.builder import BuildSpec, RegistryCredential, build, resolve_context
from imgsrc.builder.storage import mounts_under
from imgsrc.errors import BuildError
from imgsrc.settings import Settings

pytestmark = pytest.mark.buildah


def make_context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {}).items():
        (context / name).write_text(content)
    return context


def credential(base: PrivateBase, password: str | None = None) -> RegistryCredential:
    registry = base.registry
    assert registry.username is not None
    assert registry.password is not None
    return RegistryCredential(registry.url, registry.username, password or registry.password)


def run_build(spec: BuildSpec, tmp_path: Path, settings: Settings) -> tuple[Path, list[str]]:
    lines: list[str] = []
    workdir = tmp_path / "work"
    workdir.mkdir()
    layout = tmp_path / "layout"
    try:
        run(build(spec, layout, workdir, settings, lines.append))
    finally:
        assert list(workdir.iterdir()) == [], "the build's storage is removed"
        assert mounts_under(workdir) == []
    return layout, lines


@pytest.mark.registry
def test_private_from_with_credentials_and_build_args(
    private_base: PrivateBase, tmp_path: Path, settings: Settings
) -> None:
    context = make_context(
        tmp_path,
        f"FROM {private_base.reference}\n"
        "ARG GREETING\n"
        "ENV FROM_ENV=set-in-dockerfile\n"
        'RUN echo "greeting=$GREETING" > /built && echo built-ok\n'
        "COPY hello.txt /hello.txt\n",
        {"hello.txt": "hello from the context\n"},
    )
    spec = BuildSpec(
        context,
        context / "Dockerfile",
        build_args={"GREETING": "hi there"},
        credentials=[credential(private_base)],
    )
    layout, lines = run_build(spec, tmp_path, settings)
    image = read_layout(layout)
    assert image.file("built") == b"greeting=hi there\n"
    assert image.file("hello.txt") == b"hello from the context\n"
    assert image.file("bin/busybox") is not None, "the private base image's layer is part of the result"
    assert image.env["FROM_ENV"] == "set-in-dockerfile"
    assert image.config["os"] == "linux"
    assert "built-ok" in lines, "RUN output streams to on_output"
    assert private_base.registry.password is not None
    assert private_base.registry.password not in "\n".join(lines)


@pytest.mark.registry
def test_refused_registry_credentials_fail_without_showing_the_token(
    private_base: PrivateBase, tmp_path: Path, settings: Settings
) -> None:
    context = make_context(tmp_path, f"FROM {private_base.reference}\nRUN true\n")
    token = "definitely-wrong-token-1234"
    spec = BuildSpec(context, context / "Dockerfile", credentials=[credential(private_base, token)])
    lines: list[str] = []
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(BuildError, match="the build failed") as caught:
        run(build(spec, tmp_path / "layout", workdir, settings, lines.append))
    assert token not in str(caught.value) + "\n".join(lines)
    assert "unauthorized" in str(caught.value).lower() or "authentication" in str(caught.value).lower()
    assert list(workdir.iterdir()) == []


@pytest.mark.registry
def test_unqualified_from_is_pulled_from_the_docker_hub_override(
    fake_hub: RunningRegistry, tmp_path: Path, settings: Settings
) -> None:
    """``FROM busybox`` means docker.io/library/busybox, fetched from ``dockerhub_registry_url``. Multi-stage:
    the final stage copies a file made by the first, and a build argument reaches the first stage."""
    settings = settings.model_copy(update={"dockerhub_registry_url": fake_hub.url})
    context = make_context(
        tmp_path,
        "FROM busybox AS builder\n"
        "ARG VERSION=unset\n"
        'RUN mkdir /out && echo "version $VERSION" > /out/version\n'
        "FROM library/busybox:latest\n"
        "COPY --from=builder /out/version /version\n"
        'CMD ["cat", "/version"]\n',
    )
    spec = BuildSpec(context, context / "Dockerfile", build_args={"VERSION": "1.2.3"})
    layout, lines = run_build(spec, tmp_path, settings)
    image = read_layout(layout)
    assert image.file("version") == b"version 1.2.3\n"
    assert image.config["config"]["Cmd"] == ["cat", "/version"]
    assert any("docker.io/library/busybox" in line for line in lines)
    assert len(image.manifest["layers"]) == 2, "the base layer and the COPY layer; the builder stage is dropped"


def test_failing_run_reports_its_step_exit_status_and_output(tmp_path: Path, settings: Settings) -> None:
    context = make_context(
        tmp_path,
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "sh", "-c", "echo about to fail; echo details on stderr >&2; exit 3"]\n',
    )
    shutil.copy("/bin/busybox", context / "busybox")
    spec = BuildSpec(context, context / "Dockerfile")
    lines: list[str] = []
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(BuildError) as caught:
        run(build(spec, tmp_path / "layout", workdir, settings, lines.append))
    message = str(caught.value)
    assert "exit status 3" in message
    assert "RUN" in message
    assert "details on stderr" in message
    assert "about to fail" in lines
    assert "details on stderr" in lines
    assert list(workdir.iterdir()) == []
    assert not (tmp_path / "layout").exists()


def test_dockerfile_outside_the_context_directory_but_inside_the_root_builds(
    tmp_path: Path, settings: Settings
) -> None:
    """``context_dir=/app`` with ``build_file=/docker/app.Dockerfile``, as ``docker build -f`` allows."""
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "docker").mkdir()
    (root / "app" / "payload.txt").write_text("payload\n")
    (root / "docker" / "app.Dockerfile").write_text("FROM scratch\nCOPY payload.txt /payload.txt\n")
    context, dockerfile = resolve_context(root, "/app", "/docker/app.Dockerfile")
    layout, _ = run_build(BuildSpec(context, dockerfile), tmp_path, settings)
    assert read_layout(layout).file("payload.txt") == b"payload\n"


def test_symlink_in_the_context_cannot_copy_host_files(tmp_path: Path, settings: Settings) -> None:
    """buildah resolves context paths inside a chroot of the context: a link to a host file resolves to a
    path inside the context (absent here, so the build fails) and the host file's content never gets in.
    buildah words the failure in more than one way (the copier's lstat answers "no such file or directory", or,
    under load, its subprocess is gone before the request is written: "broken pipe"), so the test pins the
    failing step, not buildah's wording."""
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-SECRET-CONTENT\n")
    context = make_context(tmp_path, "FROM scratch\nCOPY sneaky /sneaky\n")
    (context / "sneaky").symlink_to(secret)
    lines: list[str] = []
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(BuildError, match=r'building at STEP "COPY sneaky /sneaky"') as caught:
        run(build(BuildSpec(context, context / "Dockerfile"), tmp_path / "layout", workdir, settings, lines.append))
    assert "HOST-SECRET-CONTENT" not in str(caught.value) + "\n".join(lines)
    assert list(workdir.iterdir()) == []


def test_on_disk_scratch_space_builds_too(tmp_path: Path, settings: Settings) -> None:
    context = make_context(tmp_path, "FROM scratch\nCOPY a /a\n", {"a": "x"})
    layout, lines = run_build(BuildSpec(context, context / "Dockerfile", use_disk=True), tmp_path, settings)
    assert read_layout(layout).file("a") == b"x"
    assert any("scratch space on disk" in line for line in lines)


def test_output_layout_must_be_empty(tmp_path: Path, settings: Settings) -> None:
    context = make_context(tmp_path, "FROM scratch\n")
    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "junk").write_text("x")
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(BuildError, match="not an empty directory"):
        run(build(BuildSpec(context, context / "Dockerfile"), layout, workdir, settings, print))
