"""The content store adapter: where image blobs (layers, configs, manifests) are kept, once per digest.

Public API::

    FilesystemBlobStore(root)   the embedded store in <data_dir>/store (OCI image-layout blobs/sha256/<hex>)
    GcReport                    what one garbage collection did
    BlobInfo, StoreUsage        rows of iter_blobs() and the result of usage()

Everything else in this package is private.
"""

from __future__ import annotations

from imgsrc.store.filesystem import BlobInfo, FilesystemBlobStore, StoreUsage
from imgsrc.store.garbage import GcReport, ReferencedFn

__all__ = ["BlobInfo", "FilesystemBlobStore", "GcReport", "ReferencedFn", "StoreUsage"]
