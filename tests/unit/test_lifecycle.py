"""The job state machine: finished jobs never change; every path from queued ends in a final state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.errors import InvalidStateError
from imgsrc.jobs.lifecycle import FINAL_STATES, task_state_for, transition

EVENTS = ["claim", "finish", "fail", "release", "cancel", "expire"]


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
@pytest.mark.parametrize("event", EVENTS)
def test_a_finished_job_never_changes(state: str, event: str) -> None:
    with pytest.raises(InvalidStateError):
        transition(state, event)  # type: ignore[arg-type]


@given(st.lists(st.sampled_from(EVENTS), max_size=30))
def test_any_event_sequence_keeps_the_job_in_a_known_state(events: list[str]) -> None:
    state = "queued"
    for event in events:
        try:
            state = transition(state, event)  # type: ignore[arg-type]
        except InvalidStateError:
            continue
        assert task_state_for(state) in ("pending", "running", "completed", "error")
    assert state in {"queued", "running", *FINAL_STATES}


def test_release_returns_a_running_job_to_the_queue() -> None:
    assert transition("running", "release") == "queued"
    assert transition("queued", "claim") == "running"
