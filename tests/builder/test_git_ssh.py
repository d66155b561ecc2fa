"""Git contexts over ssh against a real sshd: key authentication with and without a passphrase, refused keys,
wrong passphrases, and no secret material left behind or shown."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.builder.conftest import GitRepos, run
from tests.support.sshd import KeyPair, RunningSshd, make_keypair, start_sshd

from imgsrc.builder import GitSource, fetch_context
from imgsrc.errors import BuildError
from imgsrc.settings import Settings

PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Keys:
    plain: KeyPair
    encrypted: KeyPair
    encrypted_pem: KeyPair
    stranger: KeyPair


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("keys")
    return Keys(
        plain=make_keypair(directory, "plain"),
        encrypted=make_keypair(directory, "encrypted", passphrase=PASSPHRASE),
        encrypted_pem=make_keypair(directory, "encrypted-pem", passphrase=PASSPHRASE, kind="rsa-pem"),
        stranger=make_keypair(directory, "stranger"),
    )


@pytest.fixture(scope="module")
def sshd(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSshd]:
    authorized = [keys.plain.public_key, keys.encrypted.public_key, keys.encrypted_pem.public_key]
    with start_sshd(tmp_path_factory.mktemp("sshd"), authorized) as server:
        yield server


@pytest.fixture
def repo_url(sshd: RunningSshd, git_repos: GitRepos) -> str:
    return sshd.url(git_repos.root / "r.git")


def fetch(source: GitSource, tmp_path: Path, settings: Settings) -> tuple[Path, list[str], Path]:
    lines: list[str] = []
    workdir, secrets_dir = tmp_path / "work", tmp_path / "secrets"
    workdir.mkdir(parents=True)
    secrets_dir.mkdir()
    try:
        root = run(fetch_context(source, workdir, settings, lines.append, secrets_dir=secrets_dir))
    finally:
        assert list(secrets_dir.iterdir()) == [], "key and known_hosts files are removed, whatever happened"
    return root, lines, workdir


@pytest.mark.parametrize("which", ["plain", "encrypted", "encrypted_pem"])
def test_key_authentication(repo_url: str, keys: Keys, tmp_path: Path, settings: Settings, which: str) -> None:
    """Unencrypted OpenSSH keys, passphrase-protected OpenSSH keys and encrypted PEM (PKCS#1) keys all work."""
    key: KeyPair = getattr(keys, which)
    source = GitSource(
        repo_url,
        ref_type="tag",
        ref_value="v1",
        ssh_private_key=key.private_key,
        ssh_passphrase=key.passphrase,
    )
    root, lines, workdir = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == "main@0"
    assert not any(PASSPHRASE in line for line in lines)
    assert not any(p.name.startswith(".git-auth") for p in workdir.iterdir())


def test_ssh_username_supplies_the_user_missing_from_the_url(
    sshd: RunningSshd, keys: Keys, git_repos: GitRepos, tmp_path: Path, settings: Settings
) -> None:
    url = f"ssh://127.0.0.1:{sshd.port}{git_repos.root / 'r.git'}"
    source = GitSource(url, branch="dev", ssh_username=sshd.user, ssh_private_key=keys.plain.private_key)
    root, _, _ = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == "dev@0"


def test_unauthorized_key_is_an_authentication_error(
    repo_url: str, keys: Keys, tmp_path: Path, settings: Settings
) -> None:
    source = GitSource(repo_url, ssh_private_key=keys.stranger.private_key)
    with pytest.raises(BuildError, match=r"authentication to the repository .* failed") as caught:
        fetch(source, tmp_path, settings)
    assert "PRIVATE KEY" not in str(caught.value)


def test_wrong_passphrase_is_reported_before_connecting(keys: Keys, tmp_path: Path, settings: Settings) -> None:
    """The URL points at a closed port: had ssh been started, the error would be "could not reach"."""
    source = GitSource(
        "ssh://git@127.0.0.1:9/r.git",
        ssh_private_key=keys.encrypted.private_key,
        ssh_passphrase="not the passphrase",
    )
    with pytest.raises(BuildError, match="wrong passphrase") as caught:
        fetch(source, tmp_path, settings)
    assert "not the passphrase" not in str(caught.value) + repr(caught.value)


def test_missing_passphrase_is_a_clear_error(repo_url: str, keys: Keys, tmp_path: Path, settings: Settings) -> None:
    source = GitSource(repo_url, ssh_private_key=keys.encrypted.private_key)
    with pytest.raises(BuildError, match="encrypted and no passphrase"):
        fetch(source, tmp_path, settings)


def test_secrets_are_not_in_the_sources_repr(keys: Keys) -> None:
    source = GitSource(
        "ssh://git@example.com/r.git", ssh_private_key=keys.encrypted.private_key, ssh_passphrase=PASSPHRASE
    )
    assert PASSPHRASE not in repr(source)
    assert "PRIVATE KEY" not in repr(source)


def test_without_pinned_host_keys_the_log_says_the_key_was_not_verified(
    repo_url: str, keys: Keys, tmp_path: Path, settings: Settings
) -> None:
    source = GitSource(repo_url, ref_type="tag", ref_value="v1", ssh_private_key=keys.plain.private_key)
    _root, lines, _ = fetch(source, tmp_path, settings)
    assert any("accepted without verification" in line and "IMGSRC_SSH_KNOWN_HOSTS" in line for line in lines)


def test_a_pinned_host_key_is_checked(
    repo_url: str, sshd: RunningSshd, keys: Keys, tmp_path: Path, settings: Settings
) -> None:
    """With ``IMGSRC_SSH_KNOWN_HOSTS`` the server's key must be in the file: the right key fetches, another
    host's key is refused with a clear message, and the operator's file is never written to."""
    source = GitSource(repo_url, ref_type="tag", ref_value="v1", ssh_private_key=keys.plain.private_key)
    pinned = tmp_path / "known_hosts"
    pinned.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_public_key}\n")
    root, lines, _ = fetch(source, tmp_path / "good", settings.model_copy(update={"ssh_known_hosts": pinned}))
    assert (root / "a").read_text() == "main@0"
    assert not any("without verification" in line for line in lines)
    impostor = make_keypair(tmp_path, "impostor")
    wrong = tmp_path / "wrong_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {impostor.public_key}\n")
    before = wrong.read_text()
    with pytest.raises(BuildError, match=r"host key .* could not be verified"):
        fetch(source, tmp_path / "bad", settings.model_copy(update={"ssh_known_hosts": wrong}))
    assert wrong.read_text() == before
    with pytest.raises(BuildError, match="does not exist"):
        fetch(source, tmp_path / "none", settings.model_copy(update={"ssh_known_hosts": tmp_path / "absent"}))
