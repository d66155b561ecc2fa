"""``imgsrc hubs``, ``roles``, ``keys`` and ``jobs``, and the offline ``admin create-key``."""

from __future__ import annotations

import json
from pathlib import Path

from imgsrc.cli.failures import ExitCode
from tests.cli.conftest import Cli, invoke
from tests.conftest import make_settings
from tests.support.server import LiveServer, live_server


def test_roles_and_keys_life_cycle(cli: Cli, server: LiveServer) -> None:
    """A new key's secret is printed once (stdout) with a warning (stderr); listing never shows it; revoking
    removes it."""
    role = cli.json("roles", "create", "Deployers")
    assert [r["id"] for r in cli.json("roles", "list")] == [role["id"]]

    created = cli(
        "keys", "create", "--name", "ci", "-c", "images-sources-view", "-c", "images-view", "--role", role["id"]
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("imgsrc_")
    assert "shown only now" in created.stderr

    listed = cli("keys", "list")
    assert "ci" in listed.stdout
    assert secret not in listed.output
    key_id = next(k["id"] for k in cli.json("keys", "list") if k["name"] == "ci")
    assert cli.json("keys", "revoke", key_id)["id"] == key_id
    assert key_id not in [k["id"] for k in cli.json("keys", "list")]

    as_new_key = invoke(["hubs", "current", "--url", server.url, "--api-key", secret, "--hub", server.hub_id])
    assert as_new_key.exit_code == ExitCode.REFUSED


def test_key_capabilities_are_checked_by_the_command_line(cli: Cli) -> None:
    result = cli("keys", "create", "--name", "x", "-c", "everything")
    assert result.exit_code == ExitCode.USAGE
    assert "everything" in result.output


def test_hub_creation_prints_its_admin_key_once(cli: Cli, server: LiveServer) -> None:
    created = cli.json("hubs", "create", "Team B", "--identifier", "team-b")
    assert created["hub"]["identifier"] == "team-b"
    secret = created["api_key"]["secret"]
    other = invoke(
        ["hubs", "current", "--json", "--url", server.url, "--api-key", secret, "--hub", created["hub"]["id"]]
    )
    assert json.loads(other.stdout)["name"] == "Team B"


def test_jobs_list_get_and_wait(cli: Cli) -> None:
    cli.json("sources", "create", "--origin", "none", "--name", "s")
    cli("sources", "delete", "s", "--poll", "0.05")
    jobs = cli.json("jobs", "list", "--state", "completed")
    assert len(jobs) == 1
    assert cli.json("jobs", "get", jobs[0]["id"])["state"]["current"] == "completed"
    assert "Delete image source" in cli("jobs", "list", "--all").stdout
    assert cli("jobs", "get", "f" * 24).exit_code == ExitCode.REFUSED


def test_waiting_for_a_job_that_does_not_finish_exits_6(tmp_path: Path) -> None:
    """With no worker running, the deletion job stays queued: ``--timeout`` ends the wait with exit code 6."""
    with live_server(make_settings(tmp_path / "data"), start_workers=False) as server:
        cli = Cli.of(server)
        cli.json("sources", "create", "--origin", "none", "--name", "stuck")
        result = cli("sources", "delete", "stuck", "--timeout", "0.2", "--poll", "0.05")
    assert result.exit_code == ExitCode.TIMEOUT
    assert "did not finish within 0.2s" in result.stderr


def test_admin_create_key_works_offline_on_the_database(server: LiveServer) -> None:
    """The recovery key is written straight into the database and works against the running server."""
    data_dir = str(server.settings.data_dir)
    result = invoke(["admin", "create-key", "--data-dir", data_dir, "--name", "recovery", "--json"])
    assert result.exit_code == 0, result.output
    key = json.loads(result.stdout)
    assert (key["hub_id"], key["capabilities"]) == (server.hub_id, ["all"])
    check = invoke(["hubs", "current", "--url", server.url, "--api-key", key["secret"], "--hub", key["hub_id"]])
    assert check.exit_code == 0, check.output


def test_admin_create_key_refuses_a_directory_without_a_database(tmp_path: Path) -> None:
    result = invoke(["admin", "create-key", "--data-dir", str(tmp_path), "--name", "x"])
    assert result.exit_code == ExitCode.USAGE
    assert "no database" in result.output
    assert not (tmp_path / "imgsrc.db").exists()


def test_admin_create_key_with_an_unknown_hub(server: LiveServer) -> None:
    args = ["admin", "create-key", "--data-dir", str(server.settings.data_dir), "--name", "x", "--hub", "b" * 24]
    result = invoke(args)
    assert result.exit_code == ExitCode.REFUSED
    assert "(404.hub)" in result.stderr
