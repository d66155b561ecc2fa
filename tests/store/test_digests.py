"""Names the store accepts: sha256 digests only, and temporary keys that cannot escape ``root/tmp``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.errors import InvalidArgumentError
from imgsrc.reference import Digest
from imgsrc.store import FilesystemBlobStore
from imgsrc.store.digests import check_temp_key, digest_hex

VALID = re.compile(r"sha256:[0-9a-f]{64}")
HEX64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@given(HEX64)
def test_canonical_sha256_digests_are_accepted(hex_: str) -> None:
    assert digest_hex(f"sha256:{hex_}") == hex_


@given(st.text(max_size=90))
def test_anything_but_a_canonical_sha256_digest_is_refused(text: str) -> None:
    if VALID.fullmatch(text):
        assert digest_hex(text) == text[7:]
    else:
        with pytest.raises(InvalidArgumentError):
            digest_hex(text)


@pytest.mark.parametrize(
    "text",
    [
        "sha512:" + "a" * 128,
        "sha256:" + "A" * 64,  # uppercase would be a second name for the same blob
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "a" * 64 + "\n",
        " sha256:" + "a" * 64,
        "a" * 64,
        "sha256:../" + "a" * 61,
    ],
)
def test_near_miss_digests_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        digest_hex(text)
    assert caught.value.code == "422.invalid-argument"


def test_a_digest_value_object_is_accepted_by_its_string_form() -> None:
    class Digest:
        def __str__(self) -> str:
            return "sha256:" + "b" * 64

    assert digest_hex(Digest()) == "b" * 64


def test_every_store_method_refuses_an_invalid_digest(store: FilesystemBlobStore, tmp_path: Path) -> None:
    bad = "sha256:../../etc/passwd"
    temp = tmp_path / "x"
    temp.write_bytes(b"x")
    for call in (
        lambda: store.has(bad),
        lambda: store.size(bad),
        lambda: store.path(bad),
        lambda: store.open(bad),
        lambda: store.read_bytes(bad, 10),
        lambda: store.adopt(bad),
        lambda: store.commit(temp, bad),
        lambda: store.download_slot(bad),
    ):
        with pytest.raises(InvalidArgumentError):
            call()
    assert temp.exists(), "a refused commit leaves the caller's file alone"


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}", fullmatch=True))
def test_safe_temp_keys_are_accepted_as_single_file_names(key: str) -> None:
    assert check_temp_key(key) == key
    assert Path(key).name == key


@pytest.mark.parametrize("key", ["", ".", "..", "../x", "a/b", "-rf", ".hidden", "a\x00b", "x" * 201, "é"])
def test_unsafe_temp_keys_are_refused(key: str, store: FilesystemBlobStore) -> None:
    with pytest.raises(InvalidArgumentError):
        store.temp_path(key)


def test_temp_path_is_deterministic_so_a_resumed_job_finds_its_partial_file(tmp_path: Path) -> None:
    key = "65a1b2c3d4e5f60718293a4b-" + "c" * 64
    first = FilesystemBlobStore(tmp_path / "store").temp_path(key)
    first.write_bytes(b"partial")
    again = FilesystemBlobStore(tmp_path / "store").temp_path(key)  # after a restart
    assert again == first
    assert again.read_bytes() == b"partial"
    assert again.parent == tmp_path / "store" / "tmp"


def test_the_store_accepts_reference_digest_objects(store: FilesystemBlobStore) -> None:
    digest = store.put_bytes(b"via a Digest")
    value = Digest.parse(digest)
    assert store.has(value)
    assert store.read_bytes(value, 100) == b"via a Digest"
    assert store.path(value) == store.path(digest)
    with pytest.raises(InvalidArgumentError):
        store.has(Digest.parse("sha512:" + "a" * 128))  # a valid digest, but not one this store can hold
