"""The builder adapter: build contexts (git, served tarballs) and daemonless buildah builds.

It knows nothing of HTTP or the database. A caller turns an image source into a :class:`GitSource` or a
:class:`TarballSource`, fetches it with :func:`fetch_context`, locates the context and the Dockerfile with
:func:`resolve_context`, and builds with :func:`build`, which leaves an OCI image layout for the store to
verify and save like an import. Every error is an :mod:`imgsrc.errors` error (mostly :class:`BuildError`);
no secret ever reaches a log line, a message or a command line.
"""

from __future__ import annotations

from imgsrc.builder.build import BuildResult, build
from imgsrc.builder.buildah import BuildSpec, RegistryCredential
from imgsrc.builder.context import ContextSource, GitSource, TarballSource, fetch_context, resolve_context
from imgsrc.builder.probe import Probe, detect_isolation, detect_storage_driver, probe_host

__all__ = [
    "BuildResult",
    "BuildSpec",
    "ContextSource",
    "GitSource",
    "Probe",
    "RegistryCredential",
    "TarballSource",
    "build",
    "detect_isolation",
    "detect_storage_driver",
    "fetch_context",
    "probe_host",
    "resolve_context",
]
