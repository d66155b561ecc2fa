"""What an image's OCI config says about running it (pure)."""

from __future__ import annotations

import json
from typing import Any

from imgsrc.errors import IntegrityError
from imgsrc.images.schemas import ImageConfig, ImagePort, ImageVolume

__all__ = ["GPU_VARIABLES", "parse_image_config"]

GPU_VARIABLES = ("NVIDIA_GPU", "NVIDIA_REQUIRE_CUDA", "CUDA_VERSION")


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_image_config(raw: bytes, *, layers: int) -> tuple[ImageConfig, bool, dict[str, Any]]:
    """Parse an image config: the wire ``ImageConfig``, whether it requires an NVIDIA GPU, and the document.

    The config must be a JSON object whose ``rootfs.diff_ids`` lists one entry per layer; anything else is an
    :class:`~imgsrc.errors.IntegrityError` (the image would not run).
    """
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise IntegrityError("the image config is not valid JSON") from exc
    if not isinstance(document, dict):
        raise IntegrityError("the image config is not a JSON object")
    diff_ids = _mapping(document.get("rootfs")).get("diff_ids")
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise IntegrityError("the image config has no rootfs.diff_ids list")
    if len(diff_ids) != layers:
        raise IntegrityError(f"the image config lists {len(diff_ids)} layers (diff_ids), the manifest {layers}")
    config = _mapping(document.get("config"))
    env: dict[str, str] = {}
    for item in _strings(config.get("Env")):
        key, _, value = item.partition("=")
        if key:
            env[key] = value
    ports: list[ImagePort] = []
    for spec in sorted(_mapping(config.get("ExposedPorts"))):
        number, _, protocol = str(spec).partition("/")
        if number.isdigit() and 0 < int(number) < 65536:
            ports.append(ImagePort(host=int(number), container=int(number), type=protocol or "tcp"))
    labels = {str(k): str(v) for k, v in _mapping(config.get("Labels")).items()}
    volumes = [ImageVolume(path=str(path), mode="rw") for path in sorted(_mapping(config.get("Volumes")))]
    wire = ImageConfig(
        user=str(config.get("User") or ""),
        ports=ports,
        env=env,
        labels=labels,
        command=_strings(config.get("Cmd")),
        entrypoint=_strings(config.get("Entrypoint")),
        volumes=volumes,
        workdir=str(config.get("WorkingDir") or ""),
        signal_stop=str(config.get("StopSignal") or ""),
    )
    return wire, any(name in env for name in GPU_VARIABLES), document


def config_summary(document: dict[str, Any]) -> str:
    """One line for the build log: platform and layer count as the config states them."""
    os_ = document.get("os", "?")
    arch = document.get("architecture", "?")
    variant = document.get("variant")
    layers = len(_mapping(document.get("rootfs")).get("diff_ids") or [])
    return f"config: {os_}/{arch}{'/' + variant if variant else ''}, {layers} layer(s)"
