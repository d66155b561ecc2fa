"""Origins from the command line: ``--origin`` and its detail flags, ``--origin-json``, and secrets.

Secrets never travel as argument values (other local users can read command lines): a token or password comes
from stdin (``--token-stdin``/``--password-stdin``), from ``IMGSRC_ORIGIN_TOKEN``/``IMGSRC_ORIGIN_PASSWORD``,
from a hidden prompt (``--ask-token``/``--ask-password``), or inside the ``--origin-json`` file.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from imgsrc.cli.failures import usage_error

__all__ = [
    "ORIGIN_TYPES",
    "OriginFlags",
    "SecretFlags",
    "Secrets",
    "build_origin",
    "read_secrets",
]

OriginType = Literal["docker-hub", "docker-registry", "oci-registry", "docker-file", "cycle-upload", "none"]
ORIGIN_TYPES: tuple[str, ...] = ("docker-hub", "docker-registry", "oci-registry", "docker-file", "cycle-upload", "none")
TOKEN_ENV = "IMGSRC_ORIGIN_TOKEN"  # noqa: S105 - the name of a variable, not a secret
PASSWORD_ENV = "IMGSRC_ORIGIN_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
PANEL = "Origin"
SECRETS_PANEL = "Origin secrets (never as argument values)"

# Typer option declarations, shared by `sources create` and `sources update`.
OriginOption = Annotated[
    OriginType | None,
    typer.Option(
        "--origin",
        help="Where images come from.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
OriginJsonOption = Annotated[
    str | None,
    typer.Option(
        "--origin-json",
        metavar="FILE|-",
        help='A full origin `{"type": …, "details": {…}}` from a file or stdin (`-`), for anything the flags do '
        "not cover (ECR or webhook auth, refs, build credentials…). Detail flags given too override its values.",
        rich_help_panel=PANEL,
    ),
]
TargetOption = Annotated[
    str | None,
    typer.Option("--target", help="Image reference: `redis:7`, `org/app@sha256:…`.", rich_help_panel=PANEL),
]
UrlDetailOption = Annotated[
    str | None,
    typer.Option(
        "--registry-url",
        help="Registry URL (docker-registry, oci-registry); `http://` for plain HTTP. (`--url` is the imgsrc server.)",
        rich_help_panel=PANEL,
    ),
]
UsernameOption = Annotated[
    str | None, typer.Option("--username", help="Registry or git user name.", rich_help_panel=PANEL)
]
RepoUrlOption = Annotated[
    str | None,
    typer.Option("--repo-url", help="Git repository with the build context (docker-file).", rich_help_panel=PANEL),
]
BranchOption = Annotated[str | None, typer.Option("--branch", help="Git branch (docker-file).", rich_help_panel=PANEL)]
TargzUrlOption = Annotated[
    str | None, typer.Option("--targz-url", help="A served .tar.gz build context (docker-file).", rich_help_panel=PANEL)
]
ContextDirOption = Annotated[
    str | None,
    typer.Option("--context-dir", help="Build context inside the repository or archive.", rich_help_panel=PANEL),
]
BuildFileOption = Annotated[
    str | None, typer.Option("--build-file", help="Dockerfile path inside the context.", rich_help_panel=PANEL)
]
TokenStdinOption = Annotated[
    bool,
    typer.Option(
        "--token-stdin", help=f"Read the registry token from stdin (or set {TOKEN_ENV}).", rich_help_panel=SECRETS_PANEL
    ),
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help=f"Read the password (registry, or git over http) from stdin (or set {PASSWORD_ENV}).",
        rich_help_panel=SECRETS_PANEL,
    ),
]
AskTokenOption = Annotated[
    bool, typer.Option("--ask-token", help="Prompt for the token without echoing it.", rich_help_panel=SECRETS_PANEL)
]
AskPasswordOption = Annotated[
    bool,
    typer.Option("--ask-password", help="Prompt for the password without echoing it.", rich_help_panel=SECRETS_PANEL),
]


@dataclass(frozen=True)
class OriginFlags:
    """Detail flags as given (``None`` when not given)."""

    target: str | None = None
    url: str | None = None
    username: str | None = None
    repo_url: str | None = None
    branch: str | None = None
    targz_url: str | None = None
    context_dir: str | None = None
    build_file: str | None = None

    def given(self) -> dict[str, str]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}


@dataclass(frozen=True)
class SecretFlags:
    token_stdin: bool = False
    password_stdin: bool = False
    ask_token: bool = False
    ask_password: bool = False


@dataclass(frozen=True)
class Secrets:
    token: str | None = None
    password: str | None = None

    @property
    def given(self) -> bool:
        return self.token is not None or self.password is not None

    def __repr__(self) -> str:
        return f"Secrets(token={'<set>' if self.token else None}, password={'<set>' if self.password else None})"


def _flag(name: str) -> str:
    return "--registry-url" if name == "url" else "--" + name.replace("_", "-")


def _stdin_line() -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise usage_error("expected a secret on stdin, got an empty line")
    return value


def read_secrets(flags: SecretFlags, *, origin_json_from_stdin: bool) -> Secrets:
    """Collect the token and password from stdin, the environment or a hidden prompt (in that order of
    preference). stdin serves one purpose only."""
    stdin_uses = sum((flags.token_stdin, flags.password_stdin, origin_json_from_stdin))
    if stdin_uses > 1:
        raise usage_error("stdin can carry only one of --origin-json -, --token-stdin, --password-stdin")
    token = _stdin_line() if flags.token_stdin else os.environ.get(TOKEN_ENV) or None
    password = _stdin_line() if flags.password_stdin else os.environ.get(PASSWORD_ENV) or None
    if flags.ask_token and token is None:
        token = typer.prompt("Token", hide_input=True)
    if flags.ask_password and password is None:
        password = typer.prompt("Password", hide_input=True)
    return Secrets(token=token, password=password)


def load_origin_json(where: str) -> dict[str, Any]:
    """``--origin-json``: a file, or ``-`` for stdin. Its content is never echoed in errors (it may hold secrets)."""
    try:
        text = sys.stdin.read() if where == "-" else Path(where).expanduser().read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise usage_error(f"cannot read --origin-json {where}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:
        raise usage_error(f"--origin-json {where} is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise usage_error('--origin-json must hold an object like {"type": "docker-hub", "details": {…}}')
    return data


# Which detail flags each origin type takes, and which are required when no --origin-json is given.
_ACCEPTS: dict[str, set[str]] = {
    "docker-hub": {"target", "username"},
    "docker-registry": {"target", "url", "username"},
    "oci-registry": {"target", "url", "username"},
    "docker-file": {"repo_url", "branch", "targz_url", "context_dir", "build_file", "username"},
    "cycle-upload": set(),
    "none": set(),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "docker-hub": ("target",),
    "docker-registry": ("target", "url"),
    "oci-registry": ("target", "url"),
}
_SECRETS: dict[str, set[str]] = {
    "docker-hub": {"token"},
    "docker-registry": {"token", "password"},
    "oci-registry": {"token"},
    "docker-file": {"password", "token"},
}


def _check_flags(kind: str, given: dict[str, str], secrets: Secrets) -> None:
    extra = sorted(set(given) - _ACCEPTS.get(kind, set()))
    if extra:
        raise usage_error(f"{', '.join(_flag(n) for n in extra)} does not apply to {kind} origins")
    allowed = _SECRETS.get(kind, set())
    for name in ("token", "password"):
        if getattr(secrets, name) is not None and name not in allowed:
            raise usage_error(f"{kind} origins take no {name}")


def _apply(kind: str, details: dict[str, Any], given: dict[str, str], secrets: Secrets) -> None:
    """Write flags and secrets into ``details`` (in place), where each origin type keeps them."""
    for name in ("target", "url", "context_dir", "build_file", "targz_url"):
        if name in given:
            details[name] = given[name]
    if kind in ("docker-hub", "docker-registry"):
        if "username" in given:
            details["username"] = given["username"]
        if secrets.token is not None:
            details["token"] = secrets.token
        if secrets.password is not None:
            details["password"] = secrets.password
    elif kind == "oci-registry" and ("username" in given or secrets.token is not None):
        auth = details.get("auth") if isinstance(details.get("auth"), dict) else None
        user = dict(auth["details"]) if auth and auth.get("type") == "user" else {}
        if "username" in given:
            user["username"] = given["username"]
        if secrets.token is not None:
            user["token"] = secrets.token
        details["auth"] = {"type": "user", "details": user}
    elif kind == "docker-file":
        _apply_repo(details, given, secrets)


def _apply_repo(details: dict[str, Any], given: dict[str, str], secrets: Secrets) -> None:
    password = secrets.password if secrets.password is not None else secrets.token
    if not ({"repo_url", "branch", "username"} & set(given)) and password is None:
        return
    repo = dict(details.get("repo") or {})
    if "repo_url" in given:
        repo["url"] = given["repo_url"]
    if "branch" in given:
        repo["branch"] = given["branch"]
    if "username" in given or password is not None:
        auth = repo.get("auth") if isinstance(repo.get("auth"), dict) else None
        credentials = dict(auth.get("credentials") or {}) if auth and auth.get("type") == "http" else {}
        if "username" in given:
            credentials["username"] = given["username"]
        if password is not None:
            credentials["password"] = password
        repo["auth"] = {"type": "http", "credentials": credentials}
    details["repo"] = repo


def build_origin(
    kind: str | None, base: dict[str, Any] | None, flags: OriginFlags, secrets: Secrets
) -> dict[str, Any] | None:
    """The origin document the flags describe, starting from ``base`` (``--origin-json``, or the source's
    current origin on update); ``None`` when nothing about the origin was given."""
    given = flags.given()
    if kind is None and base is None:
        if given or secrets.given:
            raise usage_error("origin detail flags and secrets need --origin (or --origin-json)")
        return None
    if kind is not None and base is not None and base.get("type") != kind:
        base = None  # a different kind of origin: start afresh
    origin_type = kind or str(base["type"] if base else "")
    details = dict((base or {}).get("details") or {})
    _check_flags(origin_type, given, secrets)
    if base is None:
        missing = [_flag(name) for name in _REQUIRED.get(origin_type, ()) if name not in given]
        if missing:
            raise usage_error(f"{origin_type} origins need {' and '.join(missing)}")
        if origin_type == "docker-file" and not ({"repo_url", "targz_url"} & set(given)):
            raise usage_error("docker-file origins need --repo-url or --targz-url")
    _apply(origin_type, details, given, secrets)
    origin: dict[str, Any] = {"type": origin_type}
    if details or origin_type not in ("none", "cycle-upload"):
        origin["details"] = details
    return origin
