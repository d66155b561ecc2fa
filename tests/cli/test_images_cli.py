"""``imgsrc import`` and ``imgsrc images``: imports end to end against the real server and a real registry (plain
progress lines when stderr is not a terminal, the final lines, failures with the build log's tail and exit 5), the
images commands, build logs (``--follow``) and pull references."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgsrc.cli import images as images_cli
from imgsrc.cli.failures import ExitCode
from imgsrc.client import Client, Job
from tests.cli.conftest import Cli
from tests.cli.upstreams import stalled_registry
from tests.support.images import GeneratedImage, push_image
from tests.support.registry import RunningRegistry
from tests.support.server import LiveServer

FAST = ("--poll", "0.05")
LIFECYCLE = ["queued", "new", "downloading", "verifying", "saving", "live"]


def registry_source(cli: Cli, registry: RunningRegistry, target: str, name: str) -> Any:
    return cli.json(
        "sources", "create", "--origin", "docker-registry", "--registry-url", registry.url, "--target", target,
        "--name", name,
    )  # fmt: skip


def fields(stdout: str) -> dict[str, str]:
    """The two-column output of a detail view: ``{name: value}``."""
    pairs = (line.split(None, 1) for line in stdout.splitlines() if line.strip())
    return {pair[0]: pair[1].strip() for pair in pairs if len(pair) == 2}


@pytest.fixture
def pushed(registry: RunningRegistry, tmp_path: Path) -> GeneratedImage:
    return push_image(registry, tmp_path, "cli/app", "v1", layer_sizes=(6000, 3000))


@pytest.mark.registry
def test_import_end_to_end_prints_progress_then_the_live_image(
    cli: Cli, server: LiveServer, registry: RunningRegistry, pushed: GeneratedImage
) -> None:
    """``imgsrc import SOURCE``: progress lines on stderr in life-cycle order with sane byte counts, then the image
    ID, digest (the pushed manifest's), size and pull reference on stdout."""
    source = registry_source(cli, registry, "cli/app:v1", "app")
    result = cli("import", "app", *FAST)
    assert result.exit_code == 0, result.output

    shown = fields(result.stdout)
    assert shown["digest"] == pushed.manifest_digest
    assert shown["state"] == "live"
    size = pushed.config_size + sum(pushed.layer_sizes)
    assert shown["size"].endswith(f"({size} bytes)")
    port = httpx.URL(server.url).port
    assert shown["pull"] == f"127.0.0.1:{port}/{server.hub_id}/{source['id']}:{shown['image']}"

    lines = result.stderr.splitlines()
    assert lines[0] == f"importing image {shown['image']}"
    states = [line.split(" · ")[0] for line in lines[1:]]
    assert states, result.stderr
    assert [LIFECYCLE.index(s) for s in states] == sorted(LIFECYCLE.index(s) for s in states)
    assert states[-1] == "live"
    assert lines[-1].endswith("layers 2/2")
    for done, total in re.findall(r"([\d.]+ k?B) of ([\d.]+ k?B)", result.stderr):
        assert float(done.split()[0]) * (1000 if "kB" in done else 1) <= float(total.split()[0]) * (
            1000 if "kB" in total else 1
        )


@pytest.mark.registry
def test_import_json_and_an_override_target(cli: Cli, registry: RunningRegistry, tmp_path: Path) -> None:
    other = push_image(registry, tmp_path, "cli/app", "v2", layer_sizes=(1000,))
    registry_source(cli, registry, "cli/app:v1", "app")
    image = cli.json("import", "app", "--target", "cli/app:v2", "--name", "second", *FAST)
    assert (image["state"]["current"], image["name"]) == ("live", "second")
    assert image["backend"]["file_id"] == other.manifest_digest
    assert image["source"]["override"] == {"target": "cli/app:v2"}


@pytest.mark.registry
def test_a_failed_import_prints_the_error_and_the_build_log_tail_and_exits_5(
    cli: Cli, registry: RunningRegistry
) -> None:
    registry_source(cli, registry, "cli/ghost:missing", "ghost")
    result = cli("import", "ghost", *FAST)
    assert result.exit_code == ExitCode.JOB_FAILED, result.output
    assert re.search(r"^error: job \w{24} ended in error: .+", result.stderr, re.MULTILINE), result.stderr
    assert "last lines of the build log of image" in result.stderr
    assert "cli/ghost:missing" in result.stderr.split("last lines of the build log", 1)[1]
    (image,) = cli.json("images", "list", "--identifier", "ghost")
    assert image["state"]["current"] == "new"
    assert image["state"]["error"]["message"] in result.stderr


@pytest.mark.registry
def test_no_wait_then_follow_the_build_log(cli: Cli, registry: RunningRegistry, pushed: GeneratedImage) -> None:
    """``--no-wait`` returns once queued; ``images log --follow`` prints the log as it grows until the job ends."""
    registry_source(cli, registry, "cli/app:v1", "app")
    queued = cli("import", "app", "--no-wait")
    assert queued.exit_code == 0, queued.output
    match = re.fullmatch(r"image (\w{24}): import queued as job (\w{24})\n", queued.stdout)
    assert match, queued.stdout
    image_id = match.group(1)

    followed = cli("images", "log", image_id, "--follow", *FAST)
    assert followed.exit_code == 0, followed.output
    assert pushed.manifest_digest in followed.stdout
    assert followed.stdout.endswith("\n")
    assert cli.json("images", "get", image_id)["state"]["current"] == "live"
    again = cli("images", "log", image_id, "--follow")  # no running job: print and return
    assert again.stdout == followed.stdout
    assert cli.json("images", "log", image_id)["log"] == followed.stdout.rstrip("\n") or followed.stdout


@pytest.mark.registry
def test_images_import_retries_an_existing_image(cli: Cli, registry: RunningRegistry, pushed: GeneratedImage) -> None:
    registry_source(cli, registry, "cli/app:v1", "app")
    created = cli.json("images", "create", "app")
    result = cli("images", "import", created["id"], *FAST)
    assert result.exit_code == 0, result.output
    assert fields(result.stdout)["digest"] == pushed.manifest_digest
    detail = fields(cli("images", "get", created["id"]).stdout)
    assert detail["digest"] == pushed.manifest_digest
    assert detail["pull"].endswith(f":{created['id']}")


def test_images_commands_list_get_rename_pull_ref_delete_and_prune(cli: Cli, server: LiveServer) -> None:
    source = cli.json("sources", "create", "--origin", "docker-hub", "--target", "redis:7", "--name", "cache")
    created = cli.json("images", "create", "cache", "--target", "redis:7.2", "--name", "[bold]seven[/bold]")
    assert created["state"]["current"] == "new"
    table = cli("images", "list")
    assert table.exit_code == 0
    assert "[bold]seven[/bold]" in table.stdout
    assert created["id"] in table.stdout
    assert [i["id"] for i in cli.json("images", "list", "--source", source["id"], "--state", "new")] == [created["id"]]
    assert cli.json("images", "list", "--source-type", "docker-file") == []
    assert re.search(r"^\s*override target\s+redis:7\.2\s*$", cli("images", "get", created["id"]).stdout, re.MULTILINE)

    assert cli.json("images", "rename", created["id"], "renamed")["name"] == "renamed"
    ref = cli("images", "pull-ref", created["id"])
    port = httpx.URL(server.url).port
    assert ref.stdout == f"127.0.0.1:{port}/{server.hub_id}/{source['id']}:{created['id']}\n"
    assert "pullable once live" in ref.stderr
    assert cli.json("images", "pull-ref", created["id"])["reference"] == ref.stdout.strip()

    pruned = cli("images", "prune", "cache", *FAST)
    assert pruned.exit_code == 0, pruned.output
    assert cli.json("images", "get", created["id"])["state"]["current"] == "new"  # too young to prune
    deleted = cli("images", "delete", created["id"], *FAST)
    assert deleted.exit_code == 0, deleted.output
    assert cli.json("images", "list") == []
    assert [i["id"] for i in cli.json("images", "list", "--state", "deleted")] == [created["id"]]


def test_refusals_exit_4_and_leave_nothing_behind(cli: Cli) -> None:
    """Importing from an upload or origin-less source is refused before any image is made; a log before any
    import is the server's 404."""
    cli.json("sources", "create", "--origin", "cycle-upload", "--name", "uploads")
    cli.json("sources", "create", "--origin", "none", "--name", "nothing")
    upload = cli("import", "uploads")
    assert upload.exit_code == ExitCode.REFUSED
    assert "imgsrc upload uploads FILE.tar" in upload.stderr
    assert cli("import", "nothing").exit_code == ExitCode.REFUSED
    assert cli.json("images", "list") == []

    image = cli.json("images", "create", "nothing")
    log = cli("images", "log", image["id"])
    assert log.exit_code == ExitCode.REFUSED
    assert "404.image.build-log" in log.stderr
    assert cli("images", "get", "f" * 24).exit_code == ExitCode.REFUSED


def test_build_arguments_must_be_key_value(cli: Cli) -> None:
    cli.json(
        "sources", "create", "--origin", "docker-file", "--repo-url", "https://git.example/app.git", "--name", "app"
    )
    bad = cli("images", "create", "app", "--build-arg", "NOVALUE")
    assert bad.exit_code == ExitCode.USAGE
    assert "KEY=VALUE" in bad.stderr
    made = cli.json("images", "create", "app", "--build-arg", "A=1", "--build-arg", "B=x=y", "--use-disk")
    assert made["build"] == {"args": {"A": "1", "B": "x=y"}, "use_disk": True}


def test_creating_an_upload_image_prints_its_token_once(cli: Cli, server: LiveServer) -> None:
    cli.json("sources", "create", "--origin", "cycle-upload", "--name", "uploads")
    result = cli("images", "create", "uploads")
    assert result.exit_code == 0, result.output
    assert "shown only now" in result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert len(token) > 20
    with Client(server.url, server.api_key, server.hub_id) as client:
        (image,) = client.images.list()
    assert json.dumps(image.model_dump(mode="json")).count(token) == 0  # masked once read back


@pytest.mark.parametrize("json_out", [False, True])
def test_follow_prints_the_log_of_a_failing_import_then_exits_5(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, json_out: bool
) -> None:
    """The registry stalls until the follower has found the running job, then answers 404: the follower prints
    the log as the job ends (or the BuildLog as JSON), then the job's error, exit 5."""
    with stalled_registry(status=404) as (url, hit, release):
        origin = ("--origin", "docker-registry", "--registry-url", url, "--target", "gone:1")
        cli.json("sources", "create", *origin, "--name", "gone")
        queued = cli.json("import", "gone", "--no-wait")
        assert hit.wait(timeout=30), "the import never reached the registry"
        found = images_cli._running_job

        def found_then_release(client: Client, image: str) -> Job | None:
            job = found(client, image)
            release.set()
            return job

        monkeypatch.setattr(images_cli, "_running_job", found_then_release)
        result = cli("images", "log", queued["id"], "--follow", *FAST, *(["--json"] if json_out else []))
    assert result.exit_code == ExitCode.JOB_FAILED, result.output
    assert re.search(r"^error: job \w{24} ended in error: .*gone:1", result.stderr, re.MULTILINE), result.stderr
    log = json.loads(result.stdout)["log"] if json_out else result.stdout
    assert "error:" in log
    assert "gone:1" in log
