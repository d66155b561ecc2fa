"""Pure builders for buildah: the build specification, command lines and the private configuration files a
build runs with. No I/O here, so every rule is testable on its own.

Configuration is private to each build and never read from the host's user configuration:

- ``auth.json`` (containers-auth.json format, mode 0600, passed with ``--authfile``) holds the ``FROM``
  credentials; tokens never appear on a command line.
- ``registries.conf`` is written as ``$HOME/.config/containers/registries.conf`` of a private ``HOME``. When
  that file exists, the containers libraries read it *instead of* ``/etc/containers/registries.conf`` and
  skip the system drop-in directory ``/etc/containers/registries.conf.d``. That matters: the Debian package
  ships short-name aliases there (``centos`` → ``quay.io/centos/centos``), so with ``CONTAINERS_REGISTRIES_CONF``
  alone (which still loads the drop-ins) ``FROM centos`` would leave for quay.io instead of Docker Hub. The
  private file makes unqualified names mean Docker Hub, as in a Dockerfile's Docker semantics, marks registries
  given as ``http://`` insecure (plain HTTP), and, when ``settings.dockerhub_registry_url`` is not the real
  Docker Hub, rewrites ``docker.io`` to that endpoint.
- ``storage.conf`` (via ``CONTAINERS_STORAGE_CONF``) pins the driver and the per-build storage directories.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from imgsrc.errors import InvalidArgumentError

__all__ = [
    "DOCKER_HUB",
    "BuildSpec",
    "RegistryCredential",
    "RegistryEndpoint",
    "auth_json",
    "bud_argv",
    "dockerhub_override",
    "push_argv",
    "registries_conf",
    "registry_endpoint",
    "storage_args",
    "storage_conf",
]

DOCKER_HUB = "docker.io"
# Host names that all mean Docker Hub's registry.
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
_BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?$")


@dataclass(frozen=True, repr=False)
class RegistryCredential:
    """Credentials for pulling ``FROM`` images from the registry at ``url`` (``https://host``, ``http://host:port``
    for plain HTTP, or a bare ``host[:port]``; Docker Hub's aliases all mean Docker Hub)."""

    url: str
    username: str
    token: str

    def __repr__(self) -> str:
        return f"RegistryCredential(url={self.url!r}, username={self.username!r}, token='********')"


@dataclass(frozen=True)
class BuildSpec:
    """What to build. ``context_dir`` and ``dockerfile`` come from
    :func:`imgsrc.builder.context.resolve_context`. ``build_args`` become ``--build-arg``; ``credentials``
    authenticate ``FROM`` pulls; ``use_disk`` puts buildah's scratch space on disk instead of memory."""

    context_dir: Path
    dockerfile: Path
    build_args: Mapping[str, str] = field(default_factory=dict)
    credentials: Sequence[RegistryCredential] = ()
    use_disk: bool = False


@dataclass(frozen=True)
class RegistryEndpoint:
    """A registry as the containers libraries name it (``host[:port]``, ``docker.io`` for Docker Hub) and
    whether it is reached over plain HTTP."""

    host: str
    insecure: bool


def registry_endpoint(url: str) -> RegistryEndpoint:
    """Parse a registry URL or bare host. Raises :class:`InvalidArgumentError` for anything else."""
    text = url.strip()
    insecure = False
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise InvalidArgumentError(f"registry URL {url!r} is not valid")
        insecure = parts.scheme == "http"
        text = parts.netloc
    else:
        text = text.split("/", 1)[0]
    text = text.lower()
    if not _HOST.match(text):
        raise InvalidArgumentError(f"registry URL {url!r} is not valid")
    if text.rsplit(":", 1)[0] in _DOCKER_HUB_ALIASES or text in _DOCKER_HUB_ALIASES:
        return RegistryEndpoint(DOCKER_HUB, insecure=False)
    return RegistryEndpoint(text, insecure)


def dockerhub_override(dockerhub_registry_url: str) -> RegistryEndpoint | None:
    """The endpoint standing in for Docker Hub, or ``None`` when the setting names the real Docker Hub."""
    endpoint = registry_endpoint(dockerhub_registry_url)
    return None if endpoint.host == DOCKER_HUB else endpoint


def auth_json(credentials: Sequence[RegistryCredential], hub_override: RegistryEndpoint | None) -> str:
    """A containers-auth.json document for ``credentials``. Docker Hub credentials are also filed under the
    override endpoint, since pulls rewritten there authenticate against it."""
    auths: dict[str, dict[str, str]] = {}
    for cred in credentials:
        endpoint = registry_endpoint(cred.url)
        encoded = base64.b64encode(f"{cred.username}:{cred.token}".encode()).decode()
        auths[endpoint.host] = {"auth": encoded}
        if endpoint.host == DOCKER_HUB and hub_override is not None:
            auths.setdefault(hub_override.host, {"auth": encoded})
    return json.dumps({"auths": auths}, indent=2, sort_keys=True) + "\n"


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string for these characters


def registries_conf(credentials: Sequence[RegistryCredential], hub_override: RegistryEndpoint | None) -> str:
    """The private registries.conf: unqualified names → Docker Hub, ``http://`` registries insecure, and
    ``docker.io`` rewritten to ``hub_override`` when there is one."""
    lines = [
        "# Written by imgsrc for one build; replaces the host's registries.conf and its drop-ins.",
        'unqualified-search-registries = ["docker.io"]',
        'short-name-mode = "permissive"',
        "",
    ]
    if hub_override is not None:
        lines += [
            "[[registry]]",
            f"prefix = {_toml_string(DOCKER_HUB)}",
            f"location = {_toml_string(hub_override.host)}",
            f"insecure = {'true' if hub_override.insecure else 'false'}",
            "",
        ]
    insecure = sorted(
        {
            endpoint.host
            for endpoint in (registry_endpoint(c.url) for c in credentials)
            if endpoint.insecure and endpoint.host != DOCKER_HUB
        }
        - ({hub_override.host} if hub_override is not None else set())
    )
    for host in insecure:
        lines += ["[[registry]]", f"location = {_toml_string(host)}", "insecure = true", ""]
    return "\n".join(lines)


def storage_conf(driver: str, graphroot: Path, runroot: Path) -> str:
    """A storage.conf that pins the driver and this build's own storage directories."""
    return "\n".join(
        [
            "[storage]",
            f"driver = {_toml_string(driver)}",
            f"graphroot = {_toml_string(str(graphroot))}",
            f"runroot = {_toml_string(str(runroot))}",
            "",
        ]
    )


def storage_args(driver: str, graphroot: Path, runroot: Path) -> list[str]:
    """Global buildah options selecting the per-build storage (also pinned by storage.conf, belt and braces)."""
    return ["--root", str(graphroot), "--runroot", str(runroot), "--storage-driver", driver]


def _check_build_args(build_args: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for name, value in build_args.items():
        if not _BUILD_ARG_NAME.match(name):
            raise InvalidArgumentError(f"build argument name {name!r} is not valid")
        if "\x00" in value:
            raise InvalidArgumentError(f"build argument {name!r} contains a NUL character")
        out += ["--build-arg", f"{name}={value}"]
    return out


def bud_argv(
    spec: BuildSpec,
    *,
    storage: Sequence[str],
    isolation: str,
    authfile: Path,
    iidfile: Path,
    retries: int,
) -> list[str]:
    """``buildah build`` for ``spec``: no layer cache (``--layers=false``: the storage is thrown away
    anyway), OCI format, the private auth file, the image ID written to ``iidfile``. The network of ``RUN``
    steps is buildah's default for the isolation: a private network namespace with ``oci``, the host's with
    ``chroot`` (the only choices chroot offers besides none)."""
    return [
        "buildah",
        *storage,
        "build",
        f"--isolation={isolation}",
        "--layers=false",
        "--format=oci",
        "--pull=true",
        f"--retry={retries}",
        f"--authfile={authfile}",
        f"--iidfile={iidfile}",
        f"--file={spec.dockerfile}",
        *_check_build_args(spec.build_args),
        "--",
        str(spec.context_dir),
    ]


def push_argv(
    image_id: str, layout: Path, *, storage: Sequence[str], digestfile: Path, tag: str = "latest"
) -> list[str]:
    """``buildah push`` of the built image into an OCI image layout directory (``oci:<dir>:<tag>``)."""
    if ":" in str(layout):
        # The oci: transport splits its reference at ':'; a colon in the path would be misread as the tag.
        raise InvalidArgumentError("the output layout path must not contain ':'")
    return [
        "buildah",
        *storage,
        "push",
        "--quiet",
        "--format=oci",
        f"--digestfile={digestfile}",
        "--",
        image_id,
        f"oci:{layout}:{tag}",
    ]
