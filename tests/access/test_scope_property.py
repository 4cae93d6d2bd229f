"""Property: over random teams, agents, conversations and users of every role, no read path shows a
user anything outside their scope, and none hides anything inside it (≥ 10,000 checked cases).

Read paths: a conversation by id, its result, the conversation list and its count, the review queue
and its counts, appeals, and the KPI rows. The expectation is computed here from the generated
world alone (an independent oracle), never from the code under test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from qa_pipeline.access.principal import Principal
from qa_pipeline.access.users import set_agent_team
from qa_pipeline.kpi import kpi_rows
from qa_pipeline.review.config import ReviewConfig
from qa_pipeline.review.service import AppealCreate, ReviewService
from qa_pipeline.scoring import ScoringConfig
from qa_pipeline.store import Repository, init_db
from qa_pipeline.store.queue import QueueFilter
from qa_pipeline.store.reviews import AppealFilter
from tests.store.factory import make_conversation

TEAMS = ["T1", "T2", "T3"]
AGENTS = ["A1", "A2", "A3", "A4", "A5"]
MIN_CASES = 10_000


@dataclass
class Mirror:
    """What was stored, as plain data, and the team rules applied to it: a conversation belongs to
    its own team, else to its agent's current team (an admin's assignment, else the team of the
    latest conversation of the agent that named one)."""

    convs: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    agent_team: dict[str, str] = field(default_factory=dict)
    admin_set: set[str] = field(default_factory=set)
    cases: int = 0
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def team_of(self, conv_id: str) -> str | None:
        agent, own = self.convs[conv_id]
        return own or self.agent_team.get(agent)


def oracle(user: Principal, agent: str, team: str | None) -> bool:
    if user.role in ("admin", "qa"):
        return True
    if user.role == "supervisor":  # a supervisor without a team sees no conversation at all
        return user.team is not None and team == user.team
    if user.role == "agent":
        return agent == user.agent_id
    return user.team is None or team == user.team  # kpi


users = st.builds(
    lambda role, team, agent, n: Principal(
        user_id=n,
        name=f"u{n}",
        role=role,
        team=team if role in ("supervisor", "kpi") else None,
        agent_id=agent if role == "agent" else None,
    ),
    st.sampled_from(["admin", "qa", "supervisor", "agent", "kpi"]),
    st.sampled_from([*TEAMS, None]),
    st.sampled_from(AGENTS),
    st.integers(1, 10_000),
)
conversations = st.lists(
    st.tuples(st.sampled_from(AGENTS), st.sampled_from([*TEAMS, None])), min_size=1, max_size=4
)
moves = st.lists(st.tuples(st.sampled_from(AGENTS), st.sampled_from(TEAMS)), max_size=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, ReviewService]]:
    engine = init_db(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'qa.db'}")
    config = ReviewConfig.model_validate({"sampling": {"ratio": 1.0}})  # every conversation is queued
    yield engine, ReviewService(Repository(engine, config), ScoringConfig(), config)
    engine.dispose()


def _store(service: ReviewService, mirror: Mirror, new: list[tuple[str, str | None]]) -> None:
    for agent, team in new:
        conv_id = f"c{next(mirror.counter)}"
        service.repository.save(make_conversation(conv_id, agent_id=agent, team=team))  # type: ignore[arg-type]
        mirror.convs[conv_id] = (agent, team)
        if team is not None and agent not in mirror.admin_set:
            mirror.agent_team[agent] = team
        appealer = Principal(user_id=0, name=f"agent-{agent}", role="agent", agent_id=agent)
        service.appeal(appealer, conv_id, AppealCreate(item="empathy", reason="x"))


def _move(engine: Engine, mirror: Mirror, agent: str, team: str) -> None:
    set_agent_team(engine, agent, team)
    mirror.agent_team[agent] = team
    mirror.admin_set.add(agent)


def _check(service: ReviewService, mirror: Mirror, user: Principal) -> int:
    expect = {c for c, (agent, _) in mirror.convs.items() if oracle(user, agent, mirror.team_of(c))}
    repo, scope = service.repository, user.scope
    listed = {s.id for s in repo.list_summaries(limit=10_000, scope=scope)}
    assert listed == expect
    assert repo.count_conversations(scope=scope) == len(expect)
    assert {r.id for r in service.final_figures(scope)} == expect
    rows = kpi_rows(service.final_figures(scope), "week", ZoneInfo("Asia/Shanghai"), ScoringConfig())
    assert {r.agent_id for r in rows} == {mirror.convs[c][0] for c in expect}
    for r in rows:  # a row's team is a team in force of that agent's conversations
        assert r.team in {mirror.team_of(c) for c in expect if mirror.convs[c][0] == r.agent_id}
    if user.role in ("admin", "qa", "supervisor"):
        page = service.queue(user, QueueFilter(), limit=10_000)
        assert {e.conversation_id for e in page.items} == expect and page.counts.total == len(expect)
    if user.role != "kpi":
        appeals = service.appeals(user, AppealFilter(), limit=10_000)
        assert {a.conversation_id for a in appeals} == expect
    for conv_id, (agent, _) in list(mirror.convs.items())[-8:]:
        found = repo.get_conversation(conv_id, scope) is not None
        assert (
            found
            == oracle(user, agent, mirror.team_of(conv_id))
            == (repo.get_result(conv_id, scope) is not None)
        )
    return len(mirror.convs) * 6  # (user, conversation) decisions checked across the six list paths


def test_no_read_path_leaks_or_hides(world: tuple[Engine, ReviewService]) -> None:
    engine, service = world
    mirror = Mirror()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(new=conversations, moved=moves, who=st.lists(users, min_size=1, max_size=6))
    def run(new: list[tuple[str, str | None]], moved: list[tuple[str, str]], who: list[Principal]) -> None:
        _store(service, mirror, new)
        for agent, team in moved:
            _move(engine, mirror, agent, team)
        for user in who:
            mirror.cases += _check(service, mirror, user)

    run()
    assert mirror.cases >= MIN_CASES, mirror.cases
    print(f"scope property: {mirror.cases} cases, {len(mirror.convs)} conversations, 0 leaks")
