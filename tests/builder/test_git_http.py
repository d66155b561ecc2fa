"""Git contexts over smart HTTP, against git's own http-backend: every way of naming a commit, the
no-hash-fetch fallback, Basic credentials (and that they never leak), and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.builder.conftest import GIT_PASSWORD, GitRepos, run
from tests.support.git import GitHttpServer

from imgsrc.builder import GitSource, fetch_context
from imgsrc.errors import BuildError, InvalidArgumentError
from imgsrc.settings import Settings


def fetch(source: GitSource, tmp_path: Path, settings: Settings, **kwargs: object) -> tuple[Path, list[str]]:
    lines: list[str] = []
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    root = run(fetch_context(source, workdir, settings, lines.append, **kwargs))  # type: ignore[arg-type]
    return root, lines


def test_default_branch_is_the_remotes_head(git_http: GitHttpServer, tmp_path: Path, settings: Settings) -> None:
    root, lines = fetch(GitSource(git_http.repo_url("t.git")), tmp_path, settings)
    assert (root / "a").read_text() == "trunk@0"
    assert any("default branch 'trunk'" in line for line in lines)


def test_checkout_holds_the_tree_only_no_git_directory(
    git_http: GitHttpServer, git_repos: GitRepos, tmp_path: Path, settings: Settings
) -> None:
    root, lines = fetch(GitSource(git_http.repo_url("r.git")), tmp_path, settings)
    assert sorted(p.name for p in root.iterdir()) == ["Dockerfile", "a"]
    assert (root / "a").read_text() == "main@2"
    assert any(git_repos.shas["main"] in line for line in lines)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["checkout"]


def test_branch_field_selects_the_branch(git_http: GitHttpServer, tmp_path: Path, settings: Settings) -> None:
    root, _ = fetch(GitSource(git_http.repo_url("r.git"), branch="dev"), tmp_path, settings)
    assert (root / "a").read_text() == "dev@0"
    assert (root / "only-on-dev").exists()


def test_ref_of_type_branch(git_http: GitHttpServer, tmp_path: Path, settings: Settings) -> None:
    source = GitSource(git_http.repo_url("r.git"), ref_type="branch", ref_value="dev")
    root, _ = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == "dev@0"


@pytest.mark.parametrize(("tag", "content"), [("v1", "main@0"), ("v1-light", "main@1")])
def test_annotated_and_lightweight_tags(
    git_http: GitHttpServer, tmp_path: Path, settings: Settings, tag: str, content: str
) -> None:
    source = GitSource(git_http.repo_url("r.git"), ref_type="tag", ref_value=tag)
    root, _ = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == content


def test_hash_fetched_directly_from_a_v2_server(
    git_http: GitHttpServer, git_repos: GitRepos, tmp_path: Path, settings: Settings
) -> None:
    """An old commit that no ref points at is fetched by its hash, without history."""
    source = GitSource(git_http.repo_url("r.git"), ref_type="hash", ref_value=git_repos.shas["main@1"])
    root, lines = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == "main@1"
    assert not any("fetching all branches" in line for line in lines)


def test_hash_falls_back_to_fetching_refs_when_the_server_refuses_unadvertised_wants(
    git_http_v0: GitHttpServer, git_repos: GitRepos, tmp_path: Path, settings: Settings
) -> None:
    source = GitSource(git_http_v0.repo_url("r.git"), ref_type="hash", ref_value=git_repos.shas["main@0"])
    root, lines = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == "main@0"
    assert any("fetching all branches and tags" in line for line in lines)


def test_abbreviated_hash_is_resolved(
    git_http: GitHttpServer, git_repos: GitRepos, tmp_path: Path, settings: Settings
) -> None:
    source = GitSource(git_http.repo_url("r.git"), ref_type="hash", ref_value=git_repos.shas["dev"][:10])
    root, _ = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == "dev@0"


def test_hash_on_the_given_branch_is_checked_out(
    git_http: GitHttpServer, git_repos: GitRepos, tmp_path: Path, settings: Settings
) -> None:
    """main@1 is an ancestor of dev (dev branched from it)."""
    source = GitSource(git_http.repo_url("r.git"), branch="dev", ref_type="hash", ref_value=git_repos.shas["main@1"])
    root, _ = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == "main@1"


def test_hash_not_on_the_given_branch_is_an_error_not_a_fallback(
    git_http: GitHttpServer, git_repos: GitRepos, tmp_path: Path, settings: Settings
) -> None:
    sha = git_repos.shas["main@2"]
    source = GitSource(git_http.repo_url("r.git"), branch="dev", ref_type="hash", ref_value=sha)
    with pytest.raises(BuildError, match=f"commit {sha} is not on branch 'dev'"):
        fetch(source, tmp_path, settings)


def test_unknown_hash_is_not_found(git_http_v0: GitHttpServer, tmp_path: Path, settings: Settings) -> None:
    source = GitSource(git_http_v0.repo_url("r.git"), ref_type="hash", ref_value="b" * 40)
    with pytest.raises(BuildError, match=f"commit {'b' * 40} not found"):
        fetch(source, tmp_path, settings)


@pytest.mark.parametrize(
    ("source_kwargs", "message"),
    [
        ({"branch": "nope"}, "branch 'nope' not found"),
        ({"ref_type": "tag", "ref_value": "v9"}, "tag 'v9' not found"),
    ],
)
def test_missing_refs_are_named(
    git_http: GitHttpServer, tmp_path: Path, settings: Settings, source_kwargs: dict[str, str], message: str
) -> None:
    source = GitSource(git_http.repo_url("r.git"), **source_kwargs)  # type: ignore[arg-type]
    with pytest.raises(BuildError, match=message):
        fetch(source, tmp_path, settings)


def test_missing_repository_is_named(git_http: GitHttpServer, tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(BuildError, match=r"repository http://127\.0\.0\.1:\d+/nope\.git not found"):
        fetch(GitSource(git_http.repo_url("nope.git")), tmp_path, settings)


def test_unreachable_server_is_named(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(BuildError, match="could not reach the repository"):
        fetch(GitSource("http://127.0.0.1:9/r.git"), tmp_path, settings)


def test_basic_credentials_fetch_from_a_protected_server(
    git_http_auth: GitHttpServer, tmp_path: Path, settings: Settings
) -> None:
    source = GitSource(git_http_auth.repo_url("r.git"), http_username="builder", http_password=GIT_PASSWORD)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    root, lines = fetch(source, tmp_path, settings, secrets_dir=secrets_dir)
    assert (root / "a").read_text() == "main@2"
    assert list(secrets_dir.iterdir()) == [], "credential files are removed after the fetch"
    assert not any(p.name.startswith(".git-auth") for p in (tmp_path / "work").iterdir())
    assert not any(GIT_PASSWORD in line for line in lines)


def test_credentials_embedded_in_the_url_are_used_and_never_shown(
    git_http_auth: GitHttpServer, tmp_path: Path, settings: Settings
) -> None:
    url = git_http_auth.repo_url("r.git").replace("://", f"://builder:{GIT_PASSWORD}@")
    source = GitSource(url, ref_type="tag", ref_value="v1")
    root, lines = fetch(source, tmp_path, settings)
    assert (root / "a").read_text() == "main@0"
    assert not any(GIT_PASSWORD in line for line in lines)
    assert GIT_PASSWORD not in repr(source)


@pytest.mark.parametrize("password", ["wrong-password", None])
def test_refused_credentials_are_a_clear_error_without_the_secret(
    git_http_auth: GitHttpServer, tmp_path: Path, settings: Settings, password: str | None
) -> None:
    source = GitSource(git_http_auth.repo_url("r.git"), http_username="builder", http_password=password)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    lines: list[str] = []
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(BuildError, match=r"authentication to the repository .* failed") as caught:
        run(fetch_context(source, workdir, settings, lines.append, secrets_dir=secrets_dir))
    shown = str(caught.value) + repr(caught.value) + "\n".join(lines)
    assert "wrong-password" not in shown
    assert list(secrets_dir.iterdir()) == []


def test_local_repositories_need_explicit_permission(git_repos: GitRepos, tmp_path: Path, settings: Settings) -> None:
    url = f"file://{git_repos.root / 'r.git'}"
    with pytest.raises(InvalidArgumentError, match="not allowed"):
        fetch(GitSource(url), tmp_path, settings)
    root, _ = fetch(GitSource(url, branch="dev"), tmp_path, settings, allow_local=True)
    assert (root / "a").read_text() == "dev@0"


@pytest.mark.parametrize(
    "source_kwargs",
    [
        {"branch": "--upload-pack=touch /tmp/pwned"},
        {"ref_type": "tag", "ref_value": "a..b"},
        {"ref_type": "hash", "ref_value": "xyz"},
        {"ref_type": "hash"},
        {"ref_value": "main"},
    ],
)
def test_unsafe_or_incomplete_refs_are_refused_before_any_git_command(
    git_http: GitHttpServer, tmp_path: Path, settings: Settings, source_kwargs: dict[str, str]
) -> None:
    source = GitSource(git_http.repo_url("r.git"), **source_kwargs)  # type: ignore[arg-type]
    requests_before = len(git_http.requests)
    with pytest.raises(InvalidArgumentError):
        fetch(source, tmp_path, settings)
    assert len(git_http.requests) == requests_before
