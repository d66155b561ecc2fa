"""A Hypothesis state machine over commit / put / adopt / reference / age / gc: whatever the sequence, the
store holds exactly the blobs a simple model predicts, and GC never removes a referenced or young blob."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from imgsrc.store import FilesystemBlobStore
from tests.store.conftest import age, digest_of

GRACE = 3600.0
CONTENTS = st.sampled_from([b"", b"a", b"b", b"config", b"layer" * 100, bytes(range(256))])


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="imgsrc-store-sm-"))
        self.store = FilesystemBlobStore(self.dir / "store")
        self.stored: dict[str, bytes] = {}  # the model: digest -> content
        self.young: set[str] = set()  # stored blobs touched within the grace window
        self.refs: set[str] = set()  # digests the "database" references
        self.temps = 0

    @initialize()
    def layout(self) -> None:
        self.store.clean_temp(0)

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(data=CONTENTS)
    def put(self, data: bytes) -> None:
        digest = self.store.put_bytes(data)
        assert digest == digest_of(data)
        self.stored[digest] = data
        self.young.add(digest)

    @rule(data=CONTENTS, verify=st.booleans())
    def commit(self, data: bytes, verify: bool) -> None:
        self.temps += 1
        temp = self.store.temp_path(f"job{self.temps}")
        temp.write_bytes(data)
        self.store.commit(temp, digest_of(data), verify=verify)
        assert not temp.exists()
        self.stored[digest_of(data)] = data
        self.young.add(digest_of(data))

    @rule(data=CONTENTS)
    def adopt(self, data: bytes) -> None:
        digest = digest_of(data)
        assert self.store.adopt(digest) == (digest in self.stored)
        if digest in self.stored:
            self.young.add(digest)

    @rule(data=CONTENTS)
    def reference(self, data: bytes) -> None:
        self.refs.add(digest_of(data))

    @rule(data=CONTENTS)
    def unreference(self, data: bytes) -> None:
        self.refs.discard(digest_of(data))

    @precondition(lambda self: bool(self.stored))
    @rule(data=st.data())
    def grow_old(self, data: st.DataObject) -> None:
        digest = data.draw(st.sampled_from(sorted(self.stored)))
        age(self.store.path(digest), 2 * GRACE)
        self.young.discard(digest)

    def _referenced(self, digests: Collection[str]) -> set[str]:
        return self.refs & set(digests)

    @rule()
    def gc(self) -> None:
        doomed = set(self.stored) - self.refs - self.young
        report = self.store.gc(self._referenced, grace_seconds=GRACE)
        assert report.removed == len(doomed)
        assert report.bytes_freed == sum(len(self.stored[digest]) for digest in doomed)
        assert report.kept_young == len(set(self.stored) & self.young)
        assert report.kept_referenced == len((set(self.stored) - self.young) & self.refs)
        for digest in doomed:
            del self.stored[digest]

    @precondition(lambda self: bool(self.stored))
    @rule(data=st.data())
    def gc_racing_an_import(self, data: st.DataObject) -> None:
        """An import claims and adopts a blob between GC's two looks; it must survive."""
        digest = data.draw(st.sampled_from(sorted(self.stored)))
        calls = 0

        def referenced(digests: Collection[str]) -> set[str]:
            nonlocal calls
            calls += 1
            if calls == 1:
                self.refs.add(digest)
                assert self.store.adopt(digest)
                self.young.add(digest)
                return self.refs & set(digests) - {digest}  # the answer predates the claim
            return self.refs & set(digests)

        doomed = set(self.stored) - self.refs - self.young - {digest}
        report = self.store.gc(referenced, grace_seconds=GRACE)
        assert self.store.has(digest)
        assert report.removed == len(doomed)
        for gone in doomed:
            del self.stored[gone]

    @invariant()
    def store_matches_model(self) -> None:
        assert {info.digest: info.size for info in self.store.iter_blobs()} == {
            digest: len(data) for digest, data in self.stored.items()
        }

    @invariant()
    def no_temp_files_linger(self) -> None:
        tmp = self.store.root / "tmp"
        assert not tmp.exists() or list(tmp.iterdir()) == []


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_store_state_machine = StoreMachine.TestCase
