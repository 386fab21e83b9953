"""The revision lifecycle accepts exactly its transitions (P11-10f)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docctl.domain import versions
from docctl.domain.lifecycle import TRANSITIONS, State, Step, next_state
from docctl.domain.numbering import Pattern, check_department
from docctl.errors import InvalidInput, InvalidTransition

steps = st.lists(st.tuples(st.sampled_from(list(Step)), st.sampled_from(["", "because"])), max_size=30)


@pytest.mark.req("P11-10f")
@settings(max_examples=500)
@given(steps)
def test_no_illegal_transition_is_ever_accepted(sequence):
    state = State.DRAFT
    path = [state]
    for step, reason in sequence:
        allowed = (state, step) in TRANSITIONS
        try:
            target = next_state(state, step, reason=reason)
        except InvalidTransition:
            assert not allowed
            continue
        except InvalidInput:
            assert allowed and not reason  # only a missing reason may stop an allowed step
            continue
        assert allowed and target == TRANSITIONS[(state, step)]
        state = target
        path.append(state)
    # nothing becomes effective without having been approved right before, nor in review before that
    for i, s in enumerate(path):
        if s is State.EFFECTIVE:
            assert path[i - 1] is State.APPROVED and path[i - 2] is State.IN_REVIEW
        if s in (State.SUPERSEDED, State.OBSOLETE):
            assert path[i - 1] is State.EFFECTIVE


@pytest.mark.req("P11-10f")
@pytest.mark.parametrize("state", [State.SUPERSEDED, State.OBSOLETE, State.WITHDRAWN])
def test_terminal_states_go_nowhere(state):
    for step in Step:
        with pytest.raises(InvalidTransition):
            next_state(state, step, reason="x")


def test_rejection_and_withdrawal_need_a_reason():
    with pytest.raises(InvalidInput):
        next_state(State.IN_REVIEW, Step.REJECT, reason=" ")
    assert next_state(State.IN_REVIEW, Step.REJECT, reason="wrong template") is State.DRAFT
    assert next_state(State.IN_REVIEW, Step.RECALL) is State.DRAFT


@pytest.mark.req("A11-5/6")
@pytest.mark.parametrize("bad", ["", "SOP", "{seq}{seq}", "SOP-{dept}-{nope}", "SOP {seq}", "{dept:03}-{seq}",
                                 "SOP-{seq:x}", "<b>{seq}</b>"])
def test_malformed_numbering_patterns_are_refused(bad):
    with pytest.raises(InvalidInput):
        Pattern(bad)


def test_numbers_render_and_share_a_counter_per_type_and_department():
    p = Pattern("SOP-{dept}-{seq:03}")
    assert p.render(type_code="SOP", dept="QA", year=2026, seq=7) == "SOP-QA-007"
    assert p.counter_key(type_code="SOP", dept="QA", year=2026) == "SOP-QA-{seq}"
    assert Pattern("{type}-{year}-{seq:04}").render(type_code="WI", dept="X", year=2026, seq=12) == "WI-2026-0012"
    assert check_department(" qa ") == "QA"
    with pytest.raises(InvalidInput):
        check_department("Q A")


def test_versions():
    assert versions.next_version([], versions.Change.MINOR) == (1, 0)
    assert versions.next_version([(1, 0)], versions.Change.MINOR) == (1, 1)
    assert versions.next_version([(1, 0), (1, 1)], versions.Change.MAJOR) == (2, 0)
    assert versions.parse("12.3") == (12, 3)
    with pytest.raises(InvalidInput):
        versions.parse("1.2.3")
