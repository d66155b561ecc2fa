"""No secret ever reaches a command line: every git, ssh and buildah invocation made during a fetch or a build
goes through a PATH shim that records its argv (and its environment), and the records are searched for the
secrets. Command lines are readable by every local user (``/proc/<pid>/cmdline``)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
from tests.builder.conftest import GIT_PASSWORD, GitRepos, PrivateBase, run
from tests.support.git import GitHttpServer
from tests.support.sshd import make_keypair, start_sshd

from imgsrc.builder import BuildSpec, GitSource, RegistryCredential, build, fetch_context
from imgsrc.settings import Settings


@pytest.fixture
def spy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Shims for git, ssh and buildah first on PATH; each appends its argv and environment to ``calls.log``."""
    shims, log = tmp_path / "shims", tmp_path / "calls.log"
    shims.mkdir()
    for tool in ("git", "ssh", "buildah"):
        real = shutil.which(tool)
        assert real is not None, f"{tool} is installed"
        shim = shims / tool
        shim.write_text(
            "#!/bin/sh\n"
            f'{{ printf "%s\\0" "{tool}" "$@"; printf "\\n--env--\\n"; env; printf "\\n"; }} >> {log}\n'
            f'exec {real} "$@"\n'
        )
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    return log


def calls(log: Path) -> str:
    return log.read_bytes().decode(errors="replace")


def test_http_password_is_never_on_argv_or_in_the_environment(
    spy: Path, git_http_auth: GitHttpServer, tmp_path: Path, settings: Settings
) -> None:
    source = GitSource(git_http_auth.repo_url("r.git"), http_username="builder", http_password=GIT_PASSWORD)
    workdir = tmp_path / "work"
    workdir.mkdir()
    run(fetch_context(source, workdir, settings, lambda _line: None))
    recorded = calls(spy)
    assert "fetch" in recorded, "the spy saw the fetch"
    assert GIT_PASSWORD not in recorded
    assert base64.b64encode(f"builder:{GIT_PASSWORD}".encode()).decode() not in recorded


def test_ssh_key_and_passphrase_are_never_on_argv(
    spy: Path, git_repos: GitRepos, tmp_path: Path, settings: Settings
) -> None:
    key = make_keypair(tmp_path / "keys", "k", passphrase="argv-spy-passphrase")
    with start_sshd(tmp_path / "sshd", [key.public_key]) as sshd:
        source = GitSource(
            sshd.url(git_repos.root / "r.git"), ssh_private_key=key.private_key, ssh_passphrase=key.passphrase
        )
        workdir = tmp_path / "work"
        workdir.mkdir()
        run(fetch_context(source, workdir, settings, lambda _line: None))
    recorded = calls(spy)
    assert "ssh\0" in recorded, "the spy saw ssh"
    assert "argv-spy-passphrase" not in recorded
    body_line = key.private_key.splitlines()[1]
    assert body_line not in recorded


@pytest.mark.buildah
@pytest.mark.registry
def test_registry_token_is_never_on_buildahs_argv_or_environment(
    spy: Path, private_base: PrivateBase, tmp_path: Path, settings: Settings
) -> None:
    registry = private_base.registry
    assert registry.username is not None
    assert registry.password is not None
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {private_base.reference}\nRUN true\n")
    spec = BuildSpec(
        context,
        context / "Dockerfile",
        credentials=[RegistryCredential(registry.url, registry.username, registry.password)],
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    run(build(spec, tmp_path / "layout", workdir, settings, lambda _line: None))
    recorded = calls(spy)
    assert "build\0" in recorded, "the spy saw the build"
    assert "push\0" in recorded, "the spy saw the push"
    assert registry.password not in recorded
    assert base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode() not in recorded
