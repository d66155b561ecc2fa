"""imgsrc: a self-hosted image factory.

Image sources say where images come from (Docker Hub, Docker and OCI registries, Dockerfiles in git or tarballs,
uploads); the factory imports or builds images from them as jobs, keeps them deduplicated in a content store and
serves them over the OCI distribution API. The HTTP API speaks the Cycle platform's wire format.
"""

__version__ = "0.1.0"
