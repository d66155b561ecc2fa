"""The OCI distribution (registry) client adapter: pull and push images, with Docker Hub's, Basic and Bearer
authentication, resumable verified downloads, and bounded, validated manifests.

Public surface: :class:`RegistryClient` and its result types, the credentials providers, and the manifest
types and media-type constants (:mod:`imgsrc.registry.manifests`). Everything else is internal.
"""

from __future__ import annotations

from imgsrc.registry.client import (
    FetchedManifest,
    RegistryClient,
    ResolvedImage,
    UnchangedImage,
    registry_base_url,
)
from imgsrc.registry.credentials import (
    Anonymous,
    Credentials,
    CredentialsProvider,
    EcrCredentials,
    StaticCredentials,
    WebhookCredentials,
)
from imgsrc.registry.manifests import Descriptor, ImageConfig, Platform, parse_config

__all__ = [
    "Anonymous",
    "Credentials",
    "CredentialsProvider",
    "Descriptor",
    "EcrCredentials",
    "FetchedManifest",
    "ImageConfig",
    "Platform",
    "RegistryClient",
    "ResolvedImage",
    "StaticCredentials",
    "UnchangedImage",
    "WebhookCredentials",
    "parse_config",
    "registry_base_url",
]
