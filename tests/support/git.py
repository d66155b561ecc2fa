"""Real git repositories and a real git smart-HTTP server for tests.

:func:`make_repo` builds a bare repository from a list of commits (files per commit, branches, tags), so a test
states the history it needs in a few lines. :func:`serve_git_http` serves a directory of bare repositories over
HTTP on a free loopback port with git's own ``git http-backend`` (run as a CGI per request behind a small
threaded server), optionally behind Basic authentication, optionally speaking only protocol v0 (no
``Git-Protocol`` header is passed on) to imitate servers that refuse unadvertised ``want``\\ s.

Everything runs with a scrubbed git environment (no global or system config, fixed identity and dates) so the
host's configuration cannot leak in.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.httpd import serve_in_thread

__all__ = [
    "Commit",
    "GitHttpServer",
    "git",
    "git_env",
    "make_repo",
    "serve_git_http",
]

_BACKEND = "/usr/lib/git-core/git-http-backend"


def git_env() -> dict[str, str]:
    """An environment for test-side git commands: no user/system config, a fixed identity and clock."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
        "LC_ALL": "C",
    }


def git(*args: str, cwd: Path) -> str:
    """Run ``git args`` in ``cwd`` and return its stdout (stripped); raise on failure."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


@dataclass
class Commit:
    """One commit of a test history: ``files`` to write (``None`` deletes), made on ``branch`` (created from the
    current HEAD when new), optionally tagged (``tag``; ``annotated`` makes it an annotated tag)."""

    files: Mapping[str, str | bytes | None]
    branch: str = "main"
    tag: str | None = None
    annotated: bool = False
    message: str = "commit"
    symlinks: Mapping[str, str] = field(default_factory=dict)


def make_repo(bare_path: Path, commits: Sequence[Commit], *, default_branch: str = "main") -> dict[str, str]:
    """Create the bare repository ``bare_path`` holding ``commits`` (made in order) and return a map of
    ``"<branch>@<n>"`` (n-th commit on that branch, from 0) and ``"<branch>"`` (tip) and ``"tag:<name>"`` to
    commit hashes. HEAD of the bare repository points at ``default_branch``."""
    work = bare_path.with_name(bare_path.name + ".work")
    work.mkdir(parents=True)
    git("init", "-q", "-b", default_branch, cwd=work)
    shas: dict[str, str] = {}
    counts: dict[str, int] = {}
    current = default_branch
    for commit in commits:
        if commit.branch != current:
            existing = git("branch", "--list", commit.branch, cwd=work)
            git("checkout", "-q", *(() if existing else ("-b",)), commit.branch, cwd=work)
            current = commit.branch
        for name, content in commit.files.items():
            path = work / name
            if content is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        for name, target in commit.symlinks.items():
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(target)
        git("add", "-A", cwd=work)
        git("commit", "-q", "--allow-empty", "-m", commit.message, cwd=work)
        sha = git("rev-parse", "HEAD", cwd=work)
        n = counts.get(commit.branch, 0)
        counts[commit.branch] = n + 1
        shas[f"{commit.branch}@{n}"] = sha
        shas[commit.branch] = sha
        if commit.tag:
            if commit.annotated:
                git("tag", "-a", "-m", f"tag {commit.tag}", commit.tag, cwd=work)
            else:
                git("tag", commit.tag, cwd=work)
            shas[f"tag:{commit.tag}"] = sha
    git("clone", "-q", "--bare", str(work), str(bare_path), cwd=work.parent)
    # A bare clone keeps the work repository's branches as its own heads; HEAD follows the default branch.
    git("symbolic-ref", "HEAD", f"refs/heads/{default_branch}", cwd=bare_path)
    return shas


# --- smart HTTP server --------------------------------------------------------------------------------------


@dataclass
class GitHttpServer:
    """A running server: ``url`` is its base (``http://127.0.0.1:<port>``); repositories are ``url/<name>``.
    ``requests`` lists ``(method, path, authenticated)`` of every request, for assertions."""

    url: str
    username: str | None
    password: str | None = field(repr=False)
    requests: list[tuple[str, str, bool]] = field(default_factory=list)

    def repo_url(self, name: str) -> str:
        return f"{self.url}/{name}"


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _make_handler(root: Path, server_state: GitHttpServer, protocol_v2: bool) -> type[BaseHTTPRequestHandler]:
    expected = None
    if server_state.username is not None and server_state.password is not None:
        raw = f"{server_state.username}:{server_state.password}".encode()
        expected = "Basic " + base64.b64encode(raw).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _serve(self) -> None:
            body = _read_body(self)
            auth = self.headers.get("Authorization")
            ok = expected is None or (auth is not None and hmac.compare_digest(auth, expected))
            server_state.requests.append((self.command, self.path, auth is not None))
            if not ok:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            parts = urlsplit(self.path)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": "/dev/null",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": parts.path,
                "QUERY_STRING": parts.query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": "127.0.0.1",
            }
            if expected is not None:
                env["REMOTE_USER"] = server_state.username or ""
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if protocol_v2 and self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            done = subprocess.run([_BACKEND], input=body, env=env, capture_output=True, check=False, timeout=60)
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = done.stdout.partition(b"\n\n")
            status = 200
            headers: list[tuple[str, str]] = []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name.strip(), value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

    return Handler


@contextlib.contextmanager
def serve_git_http(
    root: Path,
    *,
    username: str | None = None,
    password: str | None = None,
    protocol_v2: bool = True,
    allow_reachable_sha1_in_want: bool = False,
    allow_filter: bool = False,
) -> Iterator[GitHttpServer]:
    """Serve the bare repositories under ``root`` over smart HTTP on 127.0.0.1 until the context exits.

    With ``username``/``password`` every request needs those Basic credentials. ``protocol_v2=False`` drops the
    ``Git-Protocol`` header so the backend speaks v0, where fetching an unadvertised commit is refused unless
    ``allow_reachable_sha1_in_want`` sets ``uploadpack.allowReachableSHA1InWant`` on every repository;
    ``allow_filter`` sets ``uploadpack.allowFilter`` (partial clone) on them."""
    for repo in root.iterdir():
        if (repo / "HEAD").is_file():
            value = "true" if allow_reachable_sha1_in_want else "false"
            git("config", "uploadpack.allowReachableSHA1InWant", value, cwd=repo)
            git("config", "uploadpack.allowFilter", "true" if allow_filter else "false", cwd=repo)
    state = GitHttpServer(url="", username=username, password=password)
    with serve_in_thread(_make_handler(root, state, protocol_v2), "git-http") as url:
        state.url = url
        yield state
