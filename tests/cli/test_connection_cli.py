"""How client commands find the server and their credentials, and how connection failures exit."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from imgsrc.cli.failures import ExitCode
from tests.cli.conftest import clean_env, invoke
from tests.support.server import LiveServer


def test_bootstrap_file_needs_no_setup(server: LiveServer) -> None:
    """With only --data-dir (the server's machine), the key and hub come from bootstrap.json."""
    result = invoke(["hubs", "current", "--json", "--url", server.url, "--data-dir", str(server.settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == server.hub_id


def test_data_dir_from_the_environment(server: LiveServer) -> None:
    env = clean_env(IMGSRC_URL=server.url, IMGSRC_DATA_DIR=str(server.settings.data_dir))
    result = invoke(["hubs", "current", "--json"], env=env)
    assert result.exit_code == 0, result.output


def test_environment_variables_alone(server: LiveServer, tmp_path: Path) -> None:
    env = clean_env(
        IMGSRC_URL=server.url,
        IMGSRC_API_KEY=server.api_key,
        IMGSRC_HUB_ID=server.hub_id,
        IMGSRC_DATA_DIR=str(tmp_path / "empty"),
    )
    result = invoke(["hubs", "current", "--json"], env=env)
    assert result.exit_code == 0, result.output


def test_flags_beat_the_bootstrap_file(server: LiveServer) -> None:
    """An explicit (wrong) key is used even though the bootstrap file holds a good one: 401, exit 4, key unshown."""
    bad = "imgsrc_definitely-not-a-key"
    args = ["hubs", "current", "--url", server.url, "--data-dir", str(server.settings.data_dir), "--api-key", bad]
    result = invoke(args)
    assert result.exit_code == ExitCode.REFUSED
    assert result.stderr.startswith("error: invalid API key (401.auth-invalid)")
    assert "hint:" in result.stderr
    assert bad not in result.output


def test_wrong_hub_exits_4_with_a_hint(server: LiveServer) -> None:
    args = ["sources", "list", "--url", server.url, "--api-key", server.api_key, "--hub", "a" * 24]
    result = invoke(args)
    assert result.exit_code == ExitCode.REFUSED
    assert "(403.wrong-hub)" in result.stderr
    assert "IMGSRC_HUB_ID" in result.stderr


def test_no_credentials_anywhere_exits_4_saying_what_to_set(tmp_path: Path) -> None:
    result = invoke(["sources", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == ExitCode.REFUSED
    assert "no API key" in result.stderr
    assert "IMGSRC_API_KEY" in result.stderr


def test_unreachable_server_exits_3(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        result = invoke(["jobs", "list", "--url", url, "--api-key", "imgsrc_k", "--hub", "0" * 24])
    assert result.exit_code == ExitCode.UNREACHABLE
    assert result.stderr.startswith(f"error: cannot reach the server at {url}")
    assert "(503.not-ready)" in result.stderr
    assert "imgsrc_k" not in result.output


def test_malformed_url_exits_4() -> None:
    result = invoke(["jobs", "list", "--url", "localhost:8080", "--api-key", "imgsrc_k", "--hub", "0" * 24])
    assert result.exit_code == ExitCode.REFUSED
    assert "http(s)://host[:port]" in result.stderr
