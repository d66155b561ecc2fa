"""Credential material for git: private files with the right modes while in use, gone afterwards, never on a
command line; ssh keys decrypted in-process."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from tests.support.sshd import make_keypair

from imgsrc.builder.gitauth import GitCredentials, git_credentials
from imgsrc.builder.redact import Redactor
from imgsrc.errors import BuildError, InvalidArgumentError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_http_askpass_answers_username_and_password_from_private_files(tmp_path: Path) -> None:
    workdir, secrets_dir = tmp_path / "work", tmp_path / "secrets"
    workdir.mkdir()
    secrets_dir.mkdir()
    redactor = Redactor()
    creds = GitCredentials(http_username="alice", http_password="pa$$ 'word\"")
    with git_credentials(
        creds, transport="http", workdir=workdir, secrets_parent=secrets_dir, redactor=redactor
    ) as env:
        askpass = Path(env["GIT_ASKPASS"])
        assert mode(askpass) == 0o700
        assert mode(askpass.parent) == 0o700
        (secret_dir,) = secrets_dir.iterdir()
        assert mode(secret_dir) == 0o700
        assert {mode(p) for p in secret_dir.iterdir()} == {0o600}
        assert "pa$$" not in askpass.read_text()
        assert "pa$$" not in "".join(env.values())

        def ask(prompt: str) -> str:
            return subprocess.run([str(askpass), prompt], capture_output=True, text=True, check=True).stdout

        assert ask("Username for 'http://h': ") == "alice"
        assert ask("Password for 'http://alice@h': ") == "pa$$ 'word\""
    assert list(secrets_dir.iterdir()) == []
    assert list(workdir.iterdir()) == []
    assert redactor("pa$$ 'word\"") == "********"


def test_files_are_removed_even_when_the_fetch_fails(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    creds = GitCredentials(http_username="alice", http_password="pw")
    with (
        pytest.raises(RuntimeError),
        git_credentials(creds, transport="http", workdir=tmp_path, secrets_parent=secrets_dir, redactor=Redactor()),
    ):
        raise RuntimeError("fetch failed")
    assert list(secrets_dir.iterdir()) == []


def test_ssh_command_uses_a_decrypted_private_key_and_a_private_known_hosts(tmp_path: Path) -> None:
    key = make_keypair(tmp_path / "keys", "k", passphrase="secret phrase")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    creds = GitCredentials(ssh_private_key=key.private_key, ssh_passphrase=key.passphrase, ssh_username="git")
    with git_credentials(
        creds, transport="ssh", workdir=tmp_path, secrets_parent=secrets_dir, redactor=Redactor()
    ) as env:
        command = env["GIT_SSH_COMMAND"]
        for option in ("BatchMode=yes", "IdentitiesOnly=yes", "StrictHostKeyChecking=accept-new", "User=git"):
            assert option in command
        (secret_dir,) = secrets_dir.iterdir()
        key_file = secret_dir / "id"
        assert mode(key_file) == 0o600
        assert f"UserKnownHostsFile={secret_dir / 'known_hosts'}" in command
        # ssh-keygen -y reads the key without asking for a passphrase only if it is not encrypted.
        derived = subprocess.run(
            ["ssh-keygen", "-y", "-P", "", "-f", str(key_file)], capture_output=True, text=True, check=True
        ).stdout.split()[:2]
        assert derived == key.public_key.split()[:2]
        assert "secret phrase" not in command
    assert list(secrets_dir.iterdir()) == []


def test_garbage_key_is_a_clear_error(tmp_path: Path) -> None:
    creds = GitCredentials(
        ssh_private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----"
    )
    with (
        pytest.raises(BuildError, match="not a valid"),
        git_credentials(creds, transport="ssh", workdir=tmp_path, secrets_parent=tmp_path, redactor=Redactor()),
    ):
        pass


@pytest.mark.parametrize("username", ["-oProxyCommand=x", "a b", "a\nb"])
def test_usernames_that_could_inject_options_are_refused(tmp_path: Path, username: str) -> None:
    creds = GitCredentials(ssh_username=username)
    with (
        pytest.raises(InvalidArgumentError),
        git_credentials(creds, transport="ssh", workdir=tmp_path, secrets_parent=tmp_path, redactor=Redactor()),
    ):
        pass


def test_repr_hides_secrets() -> None:
    creds = GitCredentials(http_username="u", http_password="hidden-pw", ssh_private_key="KEYDATA")
    assert "hidden-pw" not in repr(creds)
    assert "KEYDATA" not in repr(creds)
