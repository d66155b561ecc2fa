"""Redaction: registered secrets and URL userinfo never survive, whatever text surrounds them."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from imgsrc.builder.redact import MASK, Redactor, redact_url

# NUL is excluded: the assertions below stand the mask in as NUL, so a secret of NULs would be a false alarm.
secrets_st = st.text(min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and "\n" not in s and "\0" not in s and s != MASK
)


@given(secret=secrets_st, before=st.text(max_size=30), after=st.text(max_size=30))
def test_a_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    redactor = Redactor([secret])
    assert secret not in redactor(before + secret + after).replace(MASK, "\0")


@given(secret=secrets_st, other=secrets_st)
def test_a_secret_containing_another_is_masked_whole(secret: str, other: str) -> None:
    redactor = Redactor([other, secret + other])
    out = redactor(f"x {secret}{other} y").replace(MASK, "\0")
    assert other not in out
    assert secret + other not in out


def test_basic_encoding_of_a_token_is_masked_too() -> None:
    redactor = Redactor()
    redactor.add_basic("alice", "tok3n")
    encoded = base64.b64encode(b"alice:tok3n").decode()
    assert redactor(f"Authorization: Basic {encoded}") == f"Authorization: Basic {MASK}"


def test_each_long_line_of_a_private_key_is_masked() -> None:
    body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
    key = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"
    redactor = Redactor([key])
    assert body not in redactor(f"debug: {body}")
    assert "BEGIN OPENSSH PRIVATE KEY" in redactor("-----BEGIN OPENSSH PRIVATE KEY-----"), "armour is no secret"


@given(
    user=st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True),
    password=st.from_regex(r"[A-Za-z0-9._~!$&'()*+,;=-]{1,20}", fullmatch=True),
)
def test_url_userinfo_is_masked(user: str, password: str) -> None:
    text = f"fatal: could not read from https://{user}:{password}@git.example.com/r.git/info/refs"
    out = redact_url(text)
    assert f"{user}:{password}@" not in out
    assert f"https://{MASK}@git.example.com/r.git" in out


def test_http_token_as_username_is_masked_but_an_ssh_user_is_kept() -> None:
    assert redact_url("https://ghp_abcdef@github.com/o/r") == f"https://{MASK}@github.com/o/r"
    assert redact_url("ssh://git@github.com/o/r") == "ssh://git@github.com/o/r"
    assert redact_url("ssh://git:pw@github.com/o/r") == f"ssh://{MASK}@github.com/o/r"


def test_empty_and_missing_secrets_are_ignored() -> None:
    redactor = Redactor([None, ""])
    assert redactor("nothing to hide") == "nothing to hide"
    assert "secrets" in repr(redactor)
