"""The case status machine: properties over random walks, and the same rules enforced by the API."""

from __future__ import annotations

import itertools
from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.case_status import TRANSITIONS, CaseStatus, IllegalTransition, can_transition, check_transition
from tests.conftest import Api, case_body

S = CaseStatus


def _reachable(start: CaseStatus) -> set[CaseStatus]:
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in TRANSITIONS[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_status_is_reachable_from_submitted() -> None:
    assert _reachable(S.SUBMITTED) == set(CaseStatus)


def test_every_open_case_can_still_be_closed() -> None:
    for status in CaseStatus:
        assert any(s.terminal for s in _reachable(status)), status


def test_the_main_path_and_labels() -> None:
    path = [S.SUBMITTED, S.ACCEPTED, S.NEEDS_CORRECTION, S.PROCESSING, S.COMPLETED, S.HANDED_OUT]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))
    assert [s.label for s in path] == ["待受理", "已受理", "待补正", "办理中", "办结", "已出件"]
    assert S.DELIVERED.label == "已送达" and S.REJECTED.label == "不予受理" and S.WITHDRAWN.label == "撤销"


@given(st.lists(st.sampled_from(list(CaseStatus)), max_size=30))
def test_random_walks_only_follow_edges(targets: list[CaseStatus]) -> None:
    current = S.SUBMITTED
    for target in targets:
        if target in TRANSITIONS[current]:
            check_transition(current, target)
            current = target
        else:
            with pytest.raises(IllegalTransition):
                check_transition(current, target)
        assert not (current.terminal and TRANSITIONS[current])


def test_nothing_leaves_a_closed_case() -> None:
    for status in (S.HANDED_OUT, S.DELIVERED, S.REJECTED, S.WITHDRAWN):
        assert status.terminal
        for target in CaseStatus:
            assert not can_transition(status, target)
    assert not can_transition(S.COMPLETED, S.WITHDRAWN)  # a finished case cannot be withdrawn


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(targets=st.lists(st.sampled_from(list(CaseStatus)), min_size=1, max_size=8))
async def test_the_api_enforces_the_same_machine(sqlite_api: Api, targets: list[CaseStatus]) -> None:
    response = await sqlite_api.post("/api/v1/cases", json=case_body(materials_received=["id_card"]))
    assert response.status == 201, response.json
    number = response.json["case_number"]
    current = S.SUBMITTED
    for target in targets:
        body = {"to": target.value, "reason": "材料不全"}
        if target is S.NEEDS_CORRECTION:
            body["missing"] = ["id_card"]
        response = await sqlite_api.post(f"/api/v1/cases/{number}/transitions", json=body)
        if can_transition(current, target):
            assert response.status == 200, response.json
            current = target
        else:
            assert response.status == 409, response.json
            assert response.json["error"]["code"] == "illegal_transition"
        assert response.json.get("status", current.value) == current.value
    final = await sqlite_api.get(f"/api/v1/cases/{number}")
    assert final.json["status"] == current.value
