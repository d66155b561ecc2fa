"""``imgsrc sources``: every origin kind from flags, secrets only from stdin/env/prompt, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from imgsrc.cli.failures import ExitCode
from tests.cli.conftest import Cli

MASK = "********"


def test_create_get_list_and_table_output(cli: Cli) -> None:
    created = cli.json("sources", "create", "--origin", "docker-hub", "--target", "redis:7", "--name", "My Redis")
    assert (created["identifier"], created["origin"]) == (
        "my-redis",
        {"type": "docker-hub", "details": {"target": "redis:7"}},
    )
    assert cli.json("sources", "get", "my-redis")["id"] == created["id"]
    assert [s["id"] for s in cli.json("sources", "list")] == [created["id"]]

    table = cli("sources", "list")
    assert table.exit_code == 0
    assert "My Redis" in table.stdout
    assert "docker-hub redis:7" in table.stdout
    detail = cli("sources", "get", created["id"], "--images-count")
    assert "redis:7" in detail.stdout
    assert "images" in detail.stdout


def test_names_are_printed_literally_not_as_markup(cli: Cli) -> None:
    cli.json("sources", "create", "--origin", "none", "--name", "[bold]x[/bold]", "--identifier", "x")
    assert "[bold]x[/bold]" in cli("sources", "list").stdout


def test_token_from_stdin_is_sent_and_never_printed(cli: Cli) -> None:
    """``--token-stdin``: the token is stored (answered masked) and appears in no output."""
    result = cli(
        "sources",
        "create",
        "--origin",
        "docker-hub",
        "--target",
        "org/app:1",
        "--username",
        "me",
        "--token-stdin",
        "--json",
        input="hub-token-from-stdin\n",
    )
    assert result.exit_code == 0, result.output
    details = json.loads(result.stdout)["origin"]["details"]
    assert details == {"target": "org/app:1", "username": "me", "token": MASK}
    assert "hub-token-from-stdin" not in result.output


def test_token_from_environment_and_from_a_hidden_prompt(cli: Cli) -> None:
    from_env = cli.json("sources", "create", "--origin", "docker-hub", "--target", "a", IMGSRC_ORIGIN_TOKEN="env-token")
    assert from_env["origin"]["details"]["token"] == MASK

    prompted = cli("sources", "create", "--origin", "docker-hub", "--target", "b", "--ask-token", input="typed-token\n")
    assert prompted.exit_code == 0, prompted.output
    assert "typed-token" not in prompted.output
    assert cli.json("sources", "get", "b")["origin"]["details"]["token"] == MASK


def test_registry_origins_place_credentials_where_each_kind_keeps_them(cli: Cli) -> None:
    docker = cli.json(
        "sources",
        "create",
        "--origin",
        "docker-registry",
        "--registry-url",
        "http://127.0.0.1:5000",
        "--target",
        "app:1",
        "--username",
        "u",
        "--password-stdin",
        input="registry-password\n",
    )
    assert docker["origin"]["details"] == {
        "target": "app:1",
        "url": "http://127.0.0.1:5000",
        "username": "u",
        "password": MASK,
    }
    oci = cli.json(
        "sources",
        "create",
        "--origin",
        "oci-registry",
        "--registry-url",
        "ghcr.io",
        "--target",
        "org/app:2",
        "--username",
        "bot",
        IMGSRC_ORIGIN_TOKEN="oci-token",
    )
    assert oci["origin"]["details"]["auth"] == {"type": "user", "details": {"username": "bot", "token": MASK}}


def test_docker_file_origin_from_git_and_from_a_tarball(cli: Cli) -> None:
    git = cli.json(
        "sources",
        "create",
        "--origin",
        "docker-file",
        "--repo-url",
        "https://git.example/app.git",
        "--branch",
        "main",
        "--username",
        "git",
        "--context-dir",
        "svc",
        "--build-file",
        "svc/Dockerfile",
        "--password-stdin",
        input="git-password\n",
    )
    details = git["origin"]["details"]
    assert details["repo"]["url"] == "https://git.example/app.git"
    assert details["repo"]["branch"] == "main"
    assert details["repo"]["auth"] == {"type": "http", "credentials": {"username": "git", "password": MASK}}
    assert (details["context_dir"], details["build_file"]) == ("svc", "svc/Dockerfile")

    tarball = cli.json(
        "sources", "create", "--origin", "docker-file", "--targz-url", "https://files.example/ctx.tar.gz"
    )
    assert tarball["origin"]["details"]["targz_url"] == "https://files.example/ctx.tar.gz"
    upload = cli.json("sources", "create", "--origin", "cycle-upload", "--name", "uploads")
    assert upload["origin"]["type"] == "cycle-upload"


def test_origin_json_from_a_file_and_from_stdin(cli: Cli, tmp_path: Path) -> None:
    """``--origin-json`` covers what flags do not (ECR auth); flags given too override its values."""
    ecr = {
        "type": "oci-registry",
        "details": {
            "target": "app:1",
            "url": "123.dkr.ecr.eu-west-1.amazonaws.com",
            "auth": {
                "type": "provider",
                "details": {
                    "flavor": "ecr",
                    "credentials": {"region": "eu-west-1", "api_key": "AKIA", "secret": "aws-secret"},
                },
            },
        },
    }
    path = tmp_path / "origin.json"
    path.write_text(json.dumps(ecr))
    created = cli.json("sources", "create", "--origin-json", str(path), "--target", "app:2")
    assert created["origin"]["details"]["target"] == "app:2"
    assert created["origin"]["details"]["auth"]["details"]["credentials"]["secret"] == MASK

    piped = cli.json(
        "sources",
        "create",
        "--origin-json",
        "-",
        input=json.dumps({"type": "docker-hub", "details": {"target": "x", "token": "piped-token"}}),
    )
    assert piped["origin"]["details"]["token"] == MASK


def test_command_line_mistakes_exit_2_before_calling_the_server(cli: Cli) -> None:
    cases = [
        (["--origin", "docker-hub", "--target", "a", "--branch", "main"], "--branch does not apply to docker-hub"),
        (["--origin", "docker-hub"], "--target"),
        (["--origin", "docker-registry", "--target", "a"], "--registry-url"),
        (["--origin", "docker-file"], "--repo-url or --targz-url"),
        (["--origin", "docker-hub", "--target", "a", "--password-stdin"], "no password"),
        (["--origin-json", "-", "--token-stdin"], "stdin can carry only one"),
        (["--origin", "nowhere"], "nowhere"),
        (["--target", "a"], "--origin"),
    ]
    for args, message in cases:
        result = cli("sources", "create", *args, input="x\n")
        assert result.exit_code == ExitCode.USAGE, (args, result.output)
        assert message in result.output, (args, result.output)


def test_server_refusal_prints_detail_and_code_and_exits_4(cli: Cli) -> None:
    refused = cli(
        "sources", "create", "--origin-json", "-", input='{"type": "cycle-source", "details": {"source_id": "x"}}'
    )
    assert refused.exit_code == ExitCode.REFUSED
    assert refused.stderr.startswith("error: a `cycle-source` origin only has meaning inside stack files")
    assert "(422.invalid-argument)" in refused.stderr

    missing = cli("sources", "get", "nothing-here")
    assert missing.exit_code == ExitCode.REFUSED
    assert missing.stderr.strip() == "error: image source not found (404.image.source)"
    assert missing.stdout == ""


def test_update_changes_only_what_is_given_and_keeps_stored_secrets(cli: Cli) -> None:
    cli.json(
        "sources", "create", "--origin", "docker-hub", "--target", "redis:7", "--name", "cache", IMGSRC_ORIGIN_TOKEN="t"
    )
    renamed = cli.json("sources", "update", "cache", "--name", "Cache", "--description", "shared")
    assert (renamed["name"], renamed["about"]["description"]) == ("Cache", "shared")
    retargeted = cli.json("sources", "update", "cache", "--target", "redis:8")
    assert retargeted["origin"]["details"] == {"target": "redis:8", "token": MASK}
    moved = cli.json("sources", "update", "cache", "--origin", "none")
    assert moved["origin"] == {"type": "none"}
    nothing = cli("sources", "update", "cache")
    assert nothing.exit_code == ExitCode.USAGE


def test_delete_waits_for_its_job_by_default(cli: Cli) -> None:
    cli.json("sources", "create", "--origin", "none", "--name", "gone")
    deleted = cli("sources", "delete", "gone", "--poll", "0.05")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.startswith("deleted gone (job ")
    assert cli.json("sources", "list") == []
    assert [s["identifier"] for s in cli.json("sources", "list", "--state", "deleted", "--all")] == ["gone"]


def test_delete_no_wait_returns_the_job_to_follow(cli: Cli) -> None:
    cli.json("sources", "create", "--origin", "none", "--name", "later")
    descriptor = cli.json("sources", "delete", "later", "--no-wait")
    assert descriptor["action"] == "delete"
    job = cli.json("jobs", "wait", descriptor["job"]["id"], "--poll", "0.05", "--timeout", "30")
    assert job["state"]["current"] == "completed"
