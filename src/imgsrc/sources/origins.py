"""Wire models of image origins: where a source's images come from.

``origin.type`` discriminates the seven kinds; ``details`` differ per kind. Secret fields carry the ``SECRET``
annotation (see :mod:`imgsrc.secretfields`). These models serve requests, responses and the SDK alike.

Validation here is about shape; whether a registry URL answers or a repository exists is for the factory to find
out when it imports.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from imgsrc.secretfields import SECRET
from imgsrc.wire import Timestamp, WireModel, omitted

__all__ = [
    "CycleSourceDetails",
    "CycleSourceOrigin",
    "CycleUploadDetails",
    "CycleUploadOrigin",
    "DockerFileDetails",
    "DockerFileOrigin",
    "DockerHubDetails",
    "DockerHubOrigin",
    "DockerRegistryDetails",
    "DockerRegistryOrigin",
    "DockerfileCredential",
    "ExistingSource",
    "ImageOrigin",
    "NoneOrigin",
    "OciRegistryDetails",
    "OciRegistryOrigin",
    "RegistryAuth",
    "RegistryAuthProvider",
    "RegistryAuthProviderCredentials",
    "RegistryAuthProviderDetails",
    "RegistryAuthUser",
    "RegistryAuthUserDetails",
    "RegistryAuthWebhook",
    "RegistryAuthWebhookDetails",
    "RepoAuth",
    "RepoAuthHttp",
    "RepoAuthSsh",
    "RepoRef",
    "RepoSource",
]

Secret = Annotated[str, SECRET, Field(max_length=65536)]
_TARGET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$")


def _check_target(value: str) -> str:
    if not value or len(value) > 1024 or not _TARGET_RE.match(value):
        raise ValueError("the target must be an image reference such as `mysql:5.7` or `org/app@sha256:…`")
    return value


def _check_url(value: str) -> str:
    if not value or len(value) > 2048 or any(c.isspace() for c in value):
        raise ValueError("must be a URL without spaces")
    return value


def _check_inside_root(value: str | None) -> str | None:
    """``context_dir`` / ``build_file``: relative to the archive or repository root (a leading ``/`` means the
    root); ``..`` may not be used to leave it."""
    if value is None:
        return None
    if "\x00" in value or "\\" in value:
        raise ValueError("must be a plain path")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("may not contain `..`: the path must stay inside the repository or archive")
    return value


def normalized_inside_root(value: str | None) -> str:
    """The root-relative form of a ``context_dir`` / ``build_file`` value ("" for the root)."""
    if not value:
        return ""
    return posixpath.normpath("/" + value).lstrip("/")


class ExistingSource(WireModel):
    """Names another source of the same hub; every detail this origin leaves unset is taken from it at import
    time."""

    source_id: str = Field(min_length=1, max_length=256)


# --- docker-hub / docker-registry --------------------------------------------------------------------------------


class DockerHubDetails(WireModel):
    target: str = Field(description="`mysql:5.7`, `org/app:tag`, `app@sha256:…`; official images under library/.")
    username: str | None = omitted(max_length=1024)
    token: Secret | None = omitted()
    existing: ExistingSource | None = omitted()

    _target = field_validator("target")(_check_target)


class DockerHubOrigin(WireModel):
    type: Literal["docker-hub"]
    details: DockerHubDetails


class DockerRegistryDetails(WireModel):
    target: str
    url: str = Field(description="The registry; without a scheme means https; `http://` means plain HTTP.")
    username: str | None = omitted(max_length=1024)
    token: Secret | None = omitted()
    password: Secret | None = omitted()
    existing: ExistingSource | None = omitted()

    _target = field_validator("target")(_check_target)
    _url = field_validator("url")(_check_url)


class DockerRegistryOrigin(WireModel):
    type: Literal["docker-registry"]
    details: DockerRegistryDetails


# --- oci-registry and its auth -----------------------------------------------------------------------------------


class RegistryAuthUserDetails(WireModel):
    username: str | None = omitted(max_length=1024)
    token: Secret | None = omitted()


class RegistryAuthUser(WireModel):
    type: Literal["user"]
    details: RegistryAuthUserDetails


class RegistryAuthWebhookDetails(WireModel):
    url: Secret = Field(description="GET returns base64 of `username:secret`. Secret: it may embed a token.")


class RegistryAuthWebhook(WireModel):
    type: Literal["webhook"]
    details: RegistryAuthWebhookDetails


class RegistryAuthProviderCredentials(WireModel):
    region: str | None = omitted(max_length=64)
    api_key: Secret | None = omitted()
    secret: Secret | None = omitted()
    namespace: str | None = omitted(max_length=1024)
    subscription_id: str | None = omitted(max_length=1024)
    client_id: str | None = omitted(max_length=1024)
    config: Secret | None = omitted()


class RegistryAuthProviderDetails(WireModel):
    flavor: Literal["ecr"]
    credentials: RegistryAuthProviderCredentials


class RegistryAuthProvider(WireModel):
    type: Literal["provider"]
    details: RegistryAuthProviderDetails


RegistryAuth = Annotated[RegistryAuthUser | RegistryAuthWebhook | RegistryAuthProvider, Field(discriminator="type")]


class OciRegistryDetails(WireModel):
    target: str
    url: str
    auth: RegistryAuth | None = None
    existing: ExistingSource | None = omitted()

    _target = field_validator("target")(_check_target)
    _url = field_validator("url")(_check_url)


class OciRegistryOrigin(WireModel):
    type: Literal["oci-registry"]
    details: OciRegistryDetails


# --- docker-file -------------------------------------------------------------------------------------------------


class RepoHttpCredentials(WireModel):
    username: str = Field(max_length=1024)
    password: Secret


class RepoAuthHttp(WireModel):
    type: Literal["http"]
    credentials: RepoHttpCredentials


class RepoSshCredentials(WireModel):
    username: str = Field(max_length=1024)
    passphrase: Secret
    private_key: Secret = Field(description="A PEM (or OpenSSH) encoded private key.")


class RepoAuthSsh(WireModel):
    type: Literal["ssh"]
    credentials: RepoSshCredentials


RepoAuth = Annotated[RepoAuthHttp | RepoAuthSsh, Field(discriminator="type")]


class RepoRef(WireModel):
    type: Literal["branch", "tag", "hash"]
    value: str = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _check_value(self) -> RepoRef:
        if self.type == "hash" and not re.fullmatch(r"[0-9a-f]{7,64}", self.value):
            raise ValueError("a hash ref must be a commit id (7 to 64 lowercase hex characters)")
        if self.value.startswith("-") or any(c.isspace() for c in self.value):
            raise ValueError("not a valid git ref")
        return self


class RepoSource(WireModel):
    url: str
    branch: str | None = omitted(min_length=1, max_length=256)
    auth: RepoAuth | None = None
    ref: RepoRef | None = None

    _url = field_validator("url")(_check_url)

    @field_validator("url")
    @classmethod
    def _no_option(cls, value: str) -> str:
        if value.startswith("-"):
            raise ValueError("a repository URL may not start with `-`")
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("-") or any(c.isspace() for c in value)):
            raise ValueError("not a valid branch name")
        return value


class DockerfileCredential(WireModel):
    """Credentials for a private image named in `FROM`."""

    url: str | None = omitted(max_length=2048)
    username: str | None = omitted(max_length=1024)
    token: Secret | None = omitted()


class DockerFileDetails(WireModel):
    repo: RepoSource | None = None
    targz_url: str | None = Field(default=None, max_length=2048)
    context_dir: str | None = Field(default=None, max_length=1024)
    build_file: str | None = Field(default=None, max_length=1024)
    credentials: list[DockerfileCredential] | None = Field(default=None, max_length=64)
    existing: ExistingSource | None = None

    _paths = field_validator("context_dir", "build_file")(_check_inside_root)

    @model_validator(mode="after")
    def _one_context(self) -> DockerFileDetails:
        if self.repo is not None and self.targz_url is not None:
            raise ValueError("give either `repo` or `targz_url`, not both")
        return self


class DockerFileOrigin(WireModel):
    type: Literal["docker-file"]
    details: DockerFileDetails


# --- cycle-upload / cycle-source / none --------------------------------------------------------------------------


class CycleUploadDetails(WireModel):
    """On a source: empty (anything sent is ignored). On an image: the one-time upload token and its expiry,
    shown once in the image's create response and masked afterwards."""

    token: str | None = Field(default=None, repr=False)  # a credential: never in reprs or tracebacks
    expires: Timestamp | None = None


class CycleUploadOrigin(WireModel):
    type: Literal["cycle-upload"]
    details: CycleUploadDetails = Field(default_factory=CycleUploadDetails)


class CycleSourceDetails(WireModel):
    source_id: str = Field(min_length=1, max_length=256)


class CycleSourceOrigin(WireModel):
    """A reference to another source; meaningful in stack files only, refused on sources."""

    type: Literal["cycle-source"]
    details: CycleSourceDetails


class NoneOrigin(WireModel):
    """A source with no origin; importing from it fails."""

    type: Literal["none"]
    details: dict[str, Any] | None = omitted(max_length=0)


ImageOrigin = Annotated[
    DockerHubOrigin
    | DockerRegistryOrigin
    | OciRegistryOrigin
    | DockerFileOrigin
    | CycleUploadOrigin
    | CycleSourceOrigin
    | NoneOrigin,
    Field(discriminator="type"),
]
