"""The pure buildah builders: registry naming, the private registries.conf and auth file, command lines
(never a token on them), and the failure message drawn from buildah's output."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.builder.build import failure_message
from imgsrc.builder.buildah import (
    DOCKER_HUB,
    BuildSpec,
    RegistryCredential,
    RegistryEndpoint,
    auth_json,
    bud_argv,
    dockerhub_override,
    push_argv,
    registries_conf,
    registry_endpoint,
    storage_conf,
)
from imgsrc.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("url", "host", "insecure"),
    [
        ("https://ghcr.io", "ghcr.io", False),
        ("http://127.0.0.1:5000", "127.0.0.1:5000", True),
        ("registry.example.com:5443", "registry.example.com:5443", False),
        ("registry.example.com/some/path", "registry.example.com", False),
        ("https://index.docker.io/v1/", DOCKER_HUB, False),
        ("docker.io", DOCKER_HUB, False),
        ("https://registry-1.docker.io", DOCKER_HUB, False),
        ("HTTP://[::1]:5000", "[::1]:5000", True),
    ],
)
def test_registry_endpoints(url: str, host: str, insecure: bool) -> None:
    assert registry_endpoint(url) == RegistryEndpoint(host, insecure)


@pytest.mark.parametrize("url", ["ftp://h", "https://u:p@h", "", "a b", "https://"])
def test_bad_registry_urls(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        registry_endpoint(url)


def test_dockerhub_override_only_when_not_the_real_hub() -> None:
    assert dockerhub_override("https://registry-1.docker.io") is None
    assert dockerhub_override("http://127.0.0.1:5000") == RegistryEndpoint("127.0.0.1:5000", True)


def test_auth_file_lists_each_registry_and_files_hub_credentials_under_the_override_too() -> None:
    creds = [
        RegistryCredential("http://127.0.0.1:5001", "alice", "t1"),
        RegistryCredential("https://index.docker.io/v1/", "bob", "t2"),
    ]
    auths = json.loads(auth_json(creds, RegistryEndpoint("127.0.0.1:5000", True)))["auths"]
    decoded = {host: base64.b64decode(entry["auth"]).decode() for host, entry in auths.items()}
    assert decoded == {"127.0.0.1:5001": "alice:t1", "docker.io": "bob:t2", "127.0.0.1:5000": "bob:t2"}


def test_registries_conf_routes_docker_hub_and_marks_http_registries_insecure() -> None:
    creds = [
        RegistryCredential("http://127.0.0.1:5001", "a", "TOKEN-ONE"),
        RegistryCredential("https://ghcr.io", "a", "TOKEN-TWO"),
    ]
    text = registries_conf(creds, RegistryEndpoint("127.0.0.1:5000", True))
    conf = tomllib.loads(text)
    assert conf["unqualified-search-registries"] == ["docker.io"]
    assert {"prefix": "docker.io", "location": "127.0.0.1:5000", "insecure": True} in conf["registry"]
    assert {"location": "127.0.0.1:5001", "insecure": True} in conf["registry"]
    assert not any(r.get("location") == "ghcr.io" for r in conf["registry"])
    assert "TOKEN" not in text


def test_registries_conf_without_override_has_no_rewrites() -> None:
    conf = tomllib.loads(registries_conf([], None))
    assert "registry" not in conf


def test_storage_conf_pins_driver_and_directories(tmp_path: Path) -> None:
    conf = tomllib.loads(storage_conf("vfs", tmp_path / "root", tmp_path / "run"))
    assert conf["storage"] == {"driver": "vfs", "graphroot": str(tmp_path / "root"), "runroot": str(tmp_path / "run")}


def test_bud_argv(tmp_path: Path) -> None:
    spec = BuildSpec(
        tmp_path / "ctx",
        tmp_path / "ctx" / "Dockerfile",
        build_args={"VERSION": "1 2=3", "EMPTY": ""},
        credentials=[RegistryCredential("https://ghcr.io", "alice", "ghp_secret_token")],
    )
    argv = bud_argv(
        spec,
        storage=["--root", "r"],
        isolation="oci",
        authfile=tmp_path / "a.json",
        iidfile=tmp_path / "iid",
        retries=2,
    )
    assert argv[:4] == ["buildah", "--root", "r", "build"]
    assert "--layers=false" in argv
    assert "--isolation=oci" in argv
    assert "--retry=2" in argv
    assert argv[-2:] == ["--", str(tmp_path / "ctx")]
    assert argv[argv.index("VERSION=1 2=3") - 1 : argv.index("VERSION=1 2=3") + 1] == ["--build-arg", "VERSION=1 2=3"]
    assert "EMPTY=" in argv
    assert not any("ghp_secret_token" in a or "alice" in a for a in argv), "credentials never reach argv"


@given(st.text(min_size=1, max_size=20))
def test_build_arg_names_are_validated(name: str) -> None:
    spec = BuildSpec(Path("/c"), Path("/c/Dockerfile"), build_args={name: "v"})
    try:
        argv = bud_argv(spec, storage=[], isolation="chroot", authfile=Path("/a"), iidfile=Path("/i"), retries=0)
    except InvalidArgumentError:
        return
    assert f"{name}=v" in argv
    assert "=" not in name
    assert not name.startswith("-")
    assert not any(ch.isspace() for ch in name)


def test_push_argv_refuses_a_colon_in_the_layout_path(tmp_path: Path) -> None:
    argv = push_argv("abc", tmp_path / "out", storage=[], digestfile=tmp_path / "d")
    assert argv[-1] == f"oci:{tmp_path / 'out'}:latest"
    with pytest.raises(InvalidArgumentError):
        push_argv("abc", tmp_path / "a:b", storage=[], digestfile=tmp_path / "d")


def test_repr_of_a_credential_hides_the_token() -> None:
    assert "the-token" not in repr(RegistryCredential("https://r", "u", "the-token"))


def test_failure_message_names_the_step_status_and_last_output() -> None:
    tail = (
        "STEP 1/2: FROM scratch",
        "STEP 2/2: RUN make",
        "Getting image source signatures",
        "compiling...",
        "make: *** [all] Error 2",
        'Error: building at STEP "RUN make": while running runtime: exit status 2',
    )
    message = failure_message(tail, 2)
    assert message.startswith('the build failed: building at STEP "RUN make": while running runtime: exit status 2')
    assert "make: *** [all] Error 2" in message
    assert "compiling..." in message
    assert "Getting image source signatures" not in message


def test_failure_message_shortens_huge_error_lines_keeping_head_and_cause() -> None:
    line = 'Error: building at STEP "COPY x /x": ' + "struct{...}" * 500 + ": no such file or directory"
    message = failure_message((line,), 1)
    assert len(message) < 800
    assert 'STEP "COPY x /x"' in message
    assert message.endswith("no such file or directory")


def test_failure_message_without_an_error_line() -> None:
    assert failure_message(("something odd",), 125) == "the build failed (buildah exit status 125):\nsomething odd"
