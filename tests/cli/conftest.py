"""Fixtures of the CLI tests: the real server, the real anonymous registry (``registry``), and a runner that
invokes ``imgsrc`` in-process with a clean environment (no ``IMGSRC_*`` from the developer's shell) and the
connection flags of that server."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from imgsrc.cli.main import app
from tests.conftest import make_settings
from tests.support.registry import registry
from tests.support.server import LiveServer, live_server

__all__ = ["registry"]

ENV_NAMES = (
    "IMGSRC_URL",
    "IMGSRC_API_KEY",
    "IMGSRC_HUB_ID",
    "IMGSRC_DATA_DIR",
    "IMGSRC_ORIGIN_TOKEN",
    "IMGSRC_ORIGIN_PASSWORD",
    "IMGSRC_DATABASE_URL",
    "IMGSRC_QUEUE_URL",
)


def clean_env(**extra: str) -> dict[str, str | None]:
    """Every variable the CLI reads unset, then ``extra``; wide columns so tables do not wrap."""
    env: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    env.update({"COLUMNS": "200", "XDG_DATA_HOME": "/nonexistent-imgsrc-test"})
    env.update(extra)
    return env


def invoke(args: list[str], *, input: str | None = None, env: Mapping[str, str | None] | None = None) -> Result:
    """Run ``imgsrc`` in-process; stdout and stderr stay apart (``result.stdout`` / ``result.stderr``)."""
    return CliRunner().invoke(app, args, input=input, env=dict(env or clean_env()), catch_exceptions=False)


@dataclass
class Cli:
    """``imgsrc`` pointed at one running server through ``--url`` and its data directory (bootstrap file)."""

    url: str
    data_dir: Path

    @classmethod
    def of(cls, server: LiveServer) -> Cli:
        return cls(server.url, server.settings.data_dir)

    @property
    def connection(self) -> list[str]:
        return ["--url", self.url, "--data-dir", str(self.data_dir)]

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        return invoke([*args, *self.connection], input=input, env=clean_env(**env))

    def json(self, *args: str, input: str | None = None, **env: str) -> Any:
        """Run with ``--json``, insist on success, and decode the output."""
        result = self(*args, "--json", input=input, **env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(make_settings(tmp_path / "data")) as running:
        yield running


@pytest.fixture
def cli(server: LiveServer) -> Cli:
    return Cli.of(server)
