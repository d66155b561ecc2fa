"""Settings: one model, read from ``IMGSRC_*`` environment variables. No instance exists at import time;
the composition roots (``create_app``, the worker, the CLI) build one and pass it down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_data_dir"]


def default_data_dir() -> Path:
    """``$IMGSRC_DATA_DIR`` if set, else ``$XDG_DATA_HOME/imgsrc`` or ``~/.local/share/imgsrc``."""
    env = os.environ.get("IMGSRC_DATA_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "imgsrc"


class Settings(BaseSettings):
    """Every setting of the server and worker. See ``docs/settings.md`` for the operator's view."""

    model_config = SettingsConfigDict(env_prefix="IMGSRC_", extra="ignore")

    # --- where things live -----------------------------------------------------------------------------------
    data_dir: Path = Field(default_factory=default_data_dir, description="State: database, blobs, keys.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store of record; default SQLite at <data_dir>/imgsrc.db. "
        "Example: postgresql+psycopg://user@host/db",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts secrets at rest (any string; a Fernet key is derived from it). "
        "Default: generated into <data_dir>/secret.key (mode 0600) on first start.",
    )

    # --- HTTP server -----------------------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `serve` listens on.")
    public_url: str | None = Field(
        default=None, description="Base URL clients reach the server at (for registry token realms)."
    )
    max_body_bytes: int = Field(default=1024 * 1024, description="Largest JSON request body accepted.")

    # --- jobs ------------------------------------------------------------------------------------------------
    queue_url: str | None = Field(
        default=None,
        description="Where job messages travel: unset = SQLite file in the data directory; redis://... = Redis.",
    )
    queue_name: str = Field(default="imgsrc", description="Name of the queue (several deployments can share a Redis).")
    workers: int = Field(default=2, ge=0, description="In-process worker threads started by `serve` (0: none).")
    job_lease_seconds: float = Field(default=30.0, gt=0, description="A job's lease; renewed by heartbeats.")
    job_poll_seconds: float = Field(
        default=0.25, gt=0, description="Longest wait of an idle worker's poll for jobs sent by other processes."
    )
    job_recover_seconds: float = Field(default=10.0, gt=0, description="How often orphaned jobs are looked for.")

    # --- registries ------------------------------------------------------------------------------------------
    dockerhub_registry_url: str = Field(
        default="https://registry-1.docker.io",
        description="Docker Hub's registry endpoint (override in tests).",
    )
    dockerhub_auth_url: str = Field(
        default="https://auth.docker.io/token", description="Docker Hub's token endpoint (override in tests)."
    )
    ecr_endpoint_url: str | None = Field(default=None, description="Override of the AWS ECR API endpoint.")
    default_platform: str = Field(default="linux/amd64", description="Platform chosen from multi-arch indexes.")
    import_all_platforms: bool = Field(
        default=False,
        description=(
            "Keep multi-arch indexes whole: an import (or the upload of a complete multi-platform OCI layout) "
            "keeps every platform (and attestation) an index lists, and `/v2` serves the index byte for byte, so "
            "runtimes of any architecture and `skopeo copy --all` pull from imgsrc. The image's config, size and "
            "`backend` still describe the default platform. Costs one manifest GET per index entry upstream and "
            "the storage of every platform."
        ),
    )
    parallel_downloads: int = Field(default=6, ge=1, le=32, description="Blobs fetched at once per import.")
    http_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Longest silence on a connection before a transfer is deemed stalled."
    )
    retries: int = Field(default=5, ge=0, description="Attempts after the first on transient upstream failures.")
    max_manifest_bytes: int = Field(default=4 * 1024 * 1024, description="Largest manifest or config accepted.")

    # --- content store ---------------------------------------------------------------------------------------
    storage: Literal["local", "registry"] = Field(
        default="local", description="Where live images are kept: the local content store or an OCI registry."
    )
    storage_registry_url: str | None = Field(default=None, description="External registry, e.g. http://h:5000")
    storage_registry_username: str | None = Field(default=None, description="User name for the external registry.")
    storage_registry_password: SecretStr | None = Field(default=None, description="Its password or token.")
    storage_registry_prefix: str = Field(default="imgsrc", description="Repository prefix in the registry.")
    gc_grace_seconds: float = Field(default=2 * 3600.0, ge=0, description="Unreferenced blobs younger: kept.")
    gc_interval_seconds: float = Field(default=600.0, gt=0, description="How often workers collect garbage.")
    temp_max_age_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="Temporary files of abandoned imports older than this are removed."
    )

    # --- builds and uploads ----------------------------------------------------------------------------------
    builder_isolation: Literal["auto", "oci", "chroot"] = Field(
        default="auto", description="buildah isolation: `oci` (runc), `chroot`, or `auto` (oci where it works)."
    )
    build_timeout_seconds: float = Field(default=3600.0, gt=0, description="A build running longer is killed.")
    build_allow_local_repos: bool = Field(
        default=False,
        description="Let docker-file sources name git repositories on the server's own disk (`file://` or a path). "
        "Off by default: anyone who may create sources could read repositories of the server's machine.",
    )
    ssh_known_hosts: Path | None = Field(
        default=None,
        description="A known_hosts file (OpenSSH format) of the git servers builds may fetch from over ssh. Set, "
        "a server whose host key is not in it is refused. Unset, host keys are accepted as presented (the build "
        "log says so).",
    )
    context_max_bytes: int = Field(default=2 * 1024**3, description="Largest unpacked build context.")
    context_max_entries: int = Field(default=200_000, description="Most entries of an unpacked build context.")
    upload_max_bytes: int = Field(default=20 * 1024**3, description="Largest upload accepted.")
    upload_max_entries: int = Field(default=10_000, ge=1, description="Most members an uploaded archive may hold.")
    upload_token_seconds: float = Field(default=3600.0, gt=0, description="Lifetime of an upload token.")

    # --- logging ---------------------------------------------------------------------------------------------
    log_level: str = Field(default="INFO", description="Level of the server's log (DEBUG, INFO, WARNING…).")

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'imgsrc.db'}"
