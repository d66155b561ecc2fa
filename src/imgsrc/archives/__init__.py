"""ADAPTER for archives: safe extraction of build contexts and readers of image archives and layouts.

* :func:`extract_tar` unpacks an untrusted tar (plain or gzip) with path, link, type and size checks.
* :func:`read_image_archive` receives an uploaded ``docker save`` or OCI image-layout tar from a stream, once.
* :func:`read_oci_layout_dir` reads the OCI layout directory a build ends with.

Hostile or malformed input raises :class:`~imgsrc.errors.ArchiveError`; content that does not match what it
declares raises :class:`~imgsrc.errors.IntegrityError`. Nothing else is raised for bad input.
"""

from __future__ import annotations

from imgsrc.archives.extract import ExtractLimits, ExtractStats, extract_tar
from imgsrc.archives.model import (
    Descriptor,
    KeptIndex,
    LocalImage,
    LocalLayer,
    LocalManifest,
    Platform,
    SourceFormat,
    UploadLimits,
)
from imgsrc.archives.readers import read_image_archive, read_oci_layout_dir

__all__ = [
    "Descriptor",
    "ExtractLimits",
    "ExtractStats",
    "KeptIndex",
    "LocalImage",
    "LocalLayer",
    "LocalManifest",
    "Platform",
    "SourceFormat",
    "UploadLimits",
    "extract_tar",
    "read_image_archive",
    "read_oci_layout_dir",
]
