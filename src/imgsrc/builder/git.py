"""Git build contexts: fetch exactly one commit of a repository and check it out, without history where the
server allows it.

The repository's git directory lives beside the checkout (``workdir/repo.git``) and is removed afterwards, so
the build context holds the tree only — no ``.git`` to bloat it or leak history into ``COPY . .``.

How each ref is fetched:

- branch, tag, default branch (``git ls-remote --symref``): ``--depth 1`` of that one ref; servers that cannot
  do shallow fetches (dumb HTTP) get a full fetch of the ref instead.
- hash alone: ``--depth 1`` of the hash itself (protocol v2 servers and v0 servers with
  ``uploadpack.allowReachableSHA1InWant`` allow it); otherwise every branch and tag, blobless
  (``--filter=blob:none`` where the server supports it: commits and trees only, blobs come with the checkout).
- hash with a branch: the branch's history, blobless, then ``merge-base --is-ancestor``; a commit that is not
  on the branch is an error, never a silent checkout of something else.

Transient failures (HTTP 429/502/503/504, resets, early EOF) are retried ``settings.retries`` times; everything
else becomes a :class:`BuildError` saying what went wrong (authentication, repository or ref not found, host
unreachable) without any secret: git's output is redacted before it is logged or quoted.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imgsrc.builder.context import GitSource
from imgsrc.builder.gitauth import GitCredentials, base_git_env, default_secrets_parent, git_credentials
from imgsrc.builder.gitref import RepoURL, check_hash, check_ref_name, is_full_hash, parse_repo_url
from imgsrc.builder.redact import Redactor
from imgsrc.builder.runner import RunResult, run_streaming
from imgsrc.errors import BuildError, InvalidArgumentError
from imgsrc.settings import Settings

__all__ = ["fetch_git"]

_TRANSIENT = re.compile(
    r"returned error: (?:429|502|503|504)|HTTP (?:429|502|503|504)|Connection reset by peer|early EOF|"
    r"transfer closed with outstanding read data",
    re.IGNORECASE,
)
_NO_SHALLOW = re.compile(r"does not support shallow|shallow[^\n]*not supported", re.IGNORECASE)
_NO_WANT = re.compile(
    r"not our ref|unadvertised object|does not allow request|couldn't find remote ref|no such remote ref",
    re.IGNORECASE,
)
_MISSING_REF = re.compile(r"couldn't find remote ref|no such remote ref|not our ref", re.IGNORECASE)
_EXPLANATIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"Host key verification failed", re.I),
        "the ssh host key of {url} could not be verified (not in IMGSRC_SSH_KNOWN_HOSTS, or changed)",
    ),
    (
        re.compile(
            r"Authentication failed|could not read (?:Username|Password)|terminal prompts disabled|"
            r"Permission denied|returned error: 40[13]|HTTP 40[13]|Invalid username or password",
            re.I,
        ),
        "authentication to the repository {url} failed (check the credentials)",
    ),
    (
        re.compile(
            r"Repository not found|repository '[^'\n]*' not found|does not appear to be a git repository|"
            r"returned error: 404|HTTP 404|not a git repository",
            re.I,
        ),
        "repository {url} not found",
    ),
    (
        re.compile(
            r"Could not resolve host|Could not resolve hostname|Connection refused|Failed to connect|"
            r"Connection timed out|No route to host|Network is unreachable",
            re.I,
        ),
        "could not reach the repository {url}",
    ),
)
_BACKOFF_CAP = 10.0


@dataclass(frozen=True)
class _Plan:
    kind: Literal["branch", "tag", "hash", "default"]
    value: str | None = None
    branch: str | None = None  # for "hash": the branch the commit must be on


def _plan(source: GitSource) -> _Plan:
    if source.ref_type is None:
        if source.ref_value:
            raise InvalidArgumentError("a ref value needs a ref type (branch, tag or hash)")
        if source.branch:
            return _Plan("branch", check_ref_name(source.branch, "branch"))
        return _Plan("default")
    if not source.ref_value:
        raise InvalidArgumentError(f"a ref of type {source.ref_type!r} needs a value")
    if source.ref_type == "hash":
        branch = check_ref_name(source.branch, "branch") if source.branch else None
        return _Plan("hash", check_hash(source.ref_value), branch)
    if source.ref_type == "tag":
        return _Plan("tag", check_ref_name(source.ref_value, "tag"))
    if source.ref_type == "branch":
        return _Plan("branch", check_ref_name(source.ref_value, "branch"))
    raise InvalidArgumentError(f"unknown ref type {source.ref_type!r}")


def _explain(tail: tuple[str, ...], repo: RepoURL, what: str, returncode: int) -> str:
    text = "\n".join(tail)
    for pattern, message in _EXPLANATIONS:
        if pattern.search(text):
            return message.format(url=repo.shown)
    detail = "; ".join(line for line in tail[-3:])
    return f"{what} failed (exit status {returncode}): {detail}" if detail else f"{what} failed"


class _Git:
    """Runs git commands against one fetch's git directory and work tree, within one deadline."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        gitdir: Path,
        worktree: Path,
        redactor: Redactor,
        log: Callable[[str], None],
        deadline: float,
        retries: int,
        repo: RepoURL,
    ) -> None:
        self.env = env
        self.gitdir = gitdir
        self.worktree = worktree
        self.redactor = redactor
        self.log = log
        self.deadline = deadline
        self.retries = retries
        self.repo = repo

    def _collector(self, lines: list[str], quiet: bool) -> Callable[[str], None]:
        def on_line(line: str) -> None:
            lines.append(line)
            if not quiet:
                self.log(f"git: {line}")

        return on_line

    async def run(self, *args: str, what: str, quiet: bool = False) -> tuple[RunResult, list[str]]:
        """Run ``git args``; return its result and output lines. Transient failures are retried."""
        # ``git init`` creates the git directory itself and refuses --work-tree; everything else runs on it.
        where = [] if args[0] == "init" else [f"--git-dir={self.gitdir}", f"--work-tree={self.worktree}"]
        argv = ["git", *where, *args]
        attempt = 0
        while True:
            lines: list[str] = []
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise BuildError(f"fetching the repository {self.repo.shown} timed out")
            result = await run_streaming(
                argv,
                env=self.env,
                on_line=self._collector(lines, quiet),
                redactor=self.redactor,
                what=what,
                time_limit=remaining,
            )
            transient = result.returncode != 0 and _TRANSIENT.search("\n".join(result.tail))
            if not transient or attempt >= self.retries:
                return result, lines
            attempt += 1
            delay = min(2.0**attempt, _BACKOFF_CAP)
            self.log(f"{what}: transient failure, retrying in {delay:g} s ({attempt}/{self.retries})")
            await asyncio.sleep(delay)  # backoff before a retry, not synchronisation

    async def check(self, *args: str, what: str, quiet: bool = False) -> list[str]:
        """Like :meth:`run`, raising a :class:`BuildError` that explains a failure."""
        result, lines = await self.run(*args, what=what, quiet=quiet)
        if result.returncode != 0:
            raise BuildError(_explain(result.tail, self.repo, what, result.returncode))
        return lines

    async def rev(self, expression: str) -> str | None:
        """The commit ``expression`` names, or ``None``."""
        result, lines = await self.run(
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{expression}^{{commit}}",
            what="git rev-parse",
            quiet=True,
        )
        return lines[-1].strip() if result.returncode == 0 and lines else None

    async def fetch(self, *refspecs: str, shallow: bool, blobless: bool = False) -> RunResult:
        """``git fetch origin refspecs``; a shallow fetch falls back to a full one where unsupported."""
        options = ["--no-tags", "--no-recurse-submodules"]
        if blobless:
            options.append("--filter=blob:none")
        if shallow:
            result, _ = await self.run("fetch", *options, "--depth=1", "origin", *refspecs, what="git fetch")
            if result.returncode == 0 or not _NO_SHALLOW.search("\n".join(result.tail)):
                return result
            self.log("the server cannot do shallow fetches: fetching full history")
        result, _ = await self.run("fetch", *options, "origin", *refspecs, what="git fetch")
        return result


async def _init(g: _Git, url: str) -> None:
    await g.check("init", "--quiet", "--bare", str(g.gitdir), what="git init", quiet=True)
    settings = {
        "core.bare": "false",
        "core.symlinks": "true",
        "advice.detachedHead": "false",
        "gc.auto": "0",
        "maintenance.auto": "false",
        "remote.origin.url": url,
        # Partial-clone set-up (what ``git clone --filter`` writes, minus the default filter: only the fetches
        # that ask for ``--filter`` are blobless), so blobless fetches and the lazy blob fetch of the checkout
        # work; servers without filter support just send everything.
        "core.repositoryformatversion": "1",
        "extensions.partialClone": "origin",
        "remote.origin.promisor": "true",
    }
    for key, value in settings.items():
        await g.check("config", key, value, what="git config", quiet=True)


async def _fetch_branch(g: _Git, branch: str) -> str:
    tracking = f"refs/remotes/origin/{branch}"
    result = await g.fetch(f"+refs/heads/{branch}:{tracking}", shallow=True)
    if result.returncode != 0:
        if _MISSING_REF.search("\n".join(result.tail)):
            raise BuildError(f"branch {branch!r} not found in {g.repo.shown}")
        raise BuildError(_explain(result.tail, g.repo, "git fetch", result.returncode))
    commit = await g.rev(tracking)
    if commit is None:
        raise BuildError(f"branch {branch!r} not found in {g.repo.shown}")
    return commit


async def _fetch_default(g: _Git) -> tuple[str, str]:
    lines = await g.check("ls-remote", "--symref", "origin", "HEAD", what="git ls-remote", quiet=True)
    for line in lines:
        target, _, name = line.partition("\t")
        if target.startswith("ref: refs/heads/") and name.strip() == "HEAD":
            branch = target.removeprefix("ref: refs/heads/").strip()
            return await _fetch_branch(g, branch), f"default branch {branch!r}"
    # No symref advertised (old or dumb servers): fetch whatever HEAD is.
    result = await g.fetch("HEAD", shallow=True)
    if result.returncode != 0:
        raise BuildError(_explain(result.tail, g.repo, "git fetch", result.returncode))
    commit = await g.rev("FETCH_HEAD")
    if commit is None:
        raise BuildError(f"the repository {g.repo.shown} has no default branch")
    return commit, "the remote HEAD"


async def _fetch_tag(g: _Git, tag: str) -> str:
    result = await g.fetch(f"+refs/tags/{tag}:refs/tags/{tag}", shallow=True)
    if result.returncode != 0:
        if _MISSING_REF.search("\n".join(result.tail)):
            raise BuildError(f"tag {tag!r} not found in {g.repo.shown}")
        raise BuildError(_explain(result.tail, g.repo, "git fetch", result.returncode))
    commit = await g.rev(f"refs/tags/{tag}")
    if commit is None:
        raise BuildError(f"tag {tag!r} does not point at a commit")
    return commit


async def _fetch_hash(g: _Git, value: str, branch: str | None) -> str:
    if branch is not None:
        tracking = f"refs/remotes/origin/{branch}"
        result = await g.fetch(f"+refs/heads/{branch}:{tracking}", shallow=False, blobless=True)
        if result.returncode != 0:
            if _MISSING_REF.search("\n".join(result.tail)):
                raise BuildError(f"branch {branch!r} not found in {g.repo.shown}")
            raise BuildError(_explain(result.tail, g.repo, "git fetch", result.returncode))
        commit = await g.rev(value)
        if commit is not None:
            ancestry, _ = await g.run(
                "merge-base", "--is-ancestor", commit, tracking, what="git merge-base", quiet=True
            )
            if ancestry.returncode == 0:
                return commit
        raise BuildError(f"commit {value} is not on branch {branch!r}")
    if is_full_hash(value):
        result = await g.fetch(value, shallow=True)
        if result.returncode == 0:
            commit = await g.rev(value)
            if commit is not None:
                return commit
        elif not _NO_WANT.search("\n".join(result.tail)):
            raise BuildError(_explain(result.tail, g.repo, "git fetch", result.returncode))
        g.log("the server does not serve single commits: fetching all branches and tags")
    result = await g.fetch(
        "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", shallow=False, blobless=True
    )
    if result.returncode != 0:
        raise BuildError(_explain(result.tail, g.repo, "git fetch", result.returncode))
    commit = await g.rev(value)
    if commit is None:
        raise BuildError(f"commit {value} not found in {g.repo.shown} (or the abbreviation is ambiguous)")
    return commit


async def fetch_git(
    source: GitSource,
    workdir: Path,
    settings: Settings,
    log: Callable[[str], None],
    *,
    allow_local: bool = False,
    secrets_dir: Path | None = None,
) -> Path:
    """Check out the commit ``source`` names into ``workdir/checkout`` and return that directory.

    See :func:`imgsrc.builder.context.fetch_context` for the contract. The whole fetch is bounded by
    ``settings.build_timeout_seconds``.
    """
    repo = parse_repo_url(source.url, allow_local=allow_local)
    plan = _plan(source)
    creds = GitCredentials(
        http_username=source.http_username or repo.username,
        http_password=source.http_password or repo.password,
        ssh_username=source.ssh_username,
        ssh_private_key=source.ssh_private_key,
        ssh_passphrase=source.ssh_passphrase,
    )
    redactor = Redactor([repo.password])
    gitdir, checkout, home = workdir / "repo.git", workdir / "checkout", workdir / ".git-home"
    checkout.mkdir()
    home.mkdir(mode=0o700)
    env = base_git_env(home, repo.allowed_protocols)
    try:
        with git_credentials(
            creds,
            transport=repo.transport,
            workdir=workdir,
            secrets_parent=secrets_dir or default_secrets_parent(workdir),
            redactor=redactor,
            known_hosts=settings.ssh_known_hosts,
        ) as extra:
            env.update(extra)
            g = _Git(
                env=env,
                gitdir=gitdir,
                worktree=checkout,
                redactor=redactor,
                log=log,
                deadline=time.monotonic() + settings.build_timeout_seconds,
                retries=settings.retries,
                repo=repo,
            )
            log(f"fetching {repo.shown}")
            if repo.transport == "ssh" and settings.ssh_known_hosts is None:
                log("the ssh host key is accepted without verification (set IMGSRC_SSH_KNOWN_HOSTS to pin it)")
            await _init(g, repo.url)
            if plan.kind == "default":
                commit, what = await _fetch_default(g)
            elif plan.kind == "branch":
                commit, what = await _fetch_branch(g, plan.value or ""), f"branch {plan.value!r}"
            elif plan.kind == "tag":
                commit, what = await _fetch_tag(g, plan.value or ""), f"tag {plan.value!r}"
            else:
                commit = await _fetch_hash(g, plan.value or "", plan.branch)
                what = f"commit {plan.value}" + (f" on branch {plan.branch!r}" if plan.branch else "")
            await g.check("checkout", "--quiet", "--force", "--detach", commit, what="git checkout")
    finally:
        shutil.rmtree(gitdir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    log(f"checked out {commit} ({what})")
    if (checkout / ".gitmodules").exists():
        log("note: the repository has submodules; they are not fetched")
    return checkout
