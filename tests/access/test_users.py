"""Users and tokens: created, hashed, issued, revoked, authenticated; teams follow agents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from qa_pipeline.access.principal import NOBODY, Principal, Scope
from qa_pipeline.access.users import (
    NewUser,
    add_user,
    authenticate_password,
    authenticate_token,
    issue_token,
    list_users,
    revoke,
    set_agent_team,
    token_hash,
)
from qa_pipeline.errors import ConflictError, InputError, NotFoundError
from qa_pipeline.store import Repository, init_db
from qa_pipeline.store.models_access import TokenRow, UserRow
from tests.store.factory import make_conversation


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = init_db(f"sqlite:///{tmp_path / 'qa.db'}")
    yield eng
    eng.dispose()


def test_a_token_authenticates_and_only_its_hash_is_stored(engine: Engine) -> None:
    user, token = add_user(engine, NewUser(name="sup1", role="supervisor", team="T1"))
    assert token.startswith("qa_") and len(token) > 40
    who = authenticate_token(engine, token)
    assert who == Principal(user_id=user.id, name="sup1", role="supervisor", team="T1")
    with Session(engine) as session:
        stored = session.scalars(select(TokenRow.token_hash)).all()
    assert stored == [token_hash(token)] and token not in stored
    assert authenticate_token(engine, token + "x") is None and authenticate_token(engine, "nope") is None


def test_passwords_are_argon2id_hashes(engine: Engine) -> None:
    add_user(engine, NewUser(name="qa1", role="qa", password="correct horse"))
    with Session(engine) as session:
        stored = session.scalars(select(UserRow.password_hash)).one()
    assert stored is not None and stored.startswith("$argon2id$") and "correct horse" not in stored
    assert authenticate_password(engine, "qa1", "correct horse") is not None
    assert authenticate_password(engine, "qa1", "wrong horse") is None
    assert authenticate_password(engine, "nobody", "correct horse") is None
    with pytest.raises(InputError, match="8 to"):
        add_user(engine, NewUser(name="qa2", role="qa", password="short"))


def test_revoke_ends_every_token_and_a_new_token_reenables(engine: Engine) -> None:
    _user, first = add_user(engine, NewUser(name="k", role="kpi"))
    second = issue_token(engine, "k")
    assert revoke(engine, "k") == 2
    assert authenticate_token(engine, first) is None and authenticate_token(engine, second) is None
    third = issue_token(engine, "k")
    assert authenticate_token(engine, third) is not None and authenticate_token(engine, first) is None
    with pytest.raises(NotFoundError):
        revoke(engine, "nobody")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "s", "role": "supervisor"}, "team"),
        ({"name": "a", "role": "agent"}, "agent_id"),
        ({"name": "bad name!", "role": "qa"}, "name"),
    ],
)
def test_incomplete_users_are_refused(engine: Engine, fields: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as err:
        add_user(engine, NewUser.model_validate(fields))
    assert err.value.field == field
    assert list_users(engine) == []


def test_names_are_unique(engine: Engine) -> None:
    add_user(engine, NewUser(name="x", role="qa"))
    with pytest.raises(ConflictError):
        add_user(engine, NewUser(name="x", role="admin"))


def test_scopes_of_each_role() -> None:
    assert Principal(user_id=1, name="a", role="admin").scope == Scope()
    assert Principal(user_id=1, name="s", role="supervisor", team="T1").scope == Scope(team="T1")
    assert Principal(user_id=1, name="s", role="supervisor").scope == Scope(team=NOBODY)
    assert Principal(user_id=1, name="g", role="agent", agent_id="A1").scope == Scope(agent_id="A1")
    assert Principal(user_id=1, name="k", role="kpi").scope == Scope()
    assert Principal(user_id=1, name="k", role="kpi", team="T2").scope == Scope(team="T2")


def test_agents_take_the_team_of_their_conversations_or_an_admins(engine: Engine) -> None:
    repo = Repository(engine)
    repo.save(make_conversation("c1", agent_id="A1", team="T1"))
    repo.save(make_conversation("c2", agent_id="A1", team=None))  # type: ignore[arg-type]
    assert repo.get_conversation("c2", Scope(team="T1")) is not None  # inherits the agent's team
    repo.save(make_conversation("c3", agent_id="A9", team=None))  # type: ignore[arg-type]
    assert repo.get_conversation("c3", Scope(team="T2")) is None
    set_agent_team(engine, "A9", "T2")
    assert repo.get_conversation("c3", Scope(team="T2")) is not None
    repo.save(make_conversation("c4", agent_id="A9", team="T3"))  # an admin's team is kept
    repo.save(make_conversation("c5", agent_id="A9", team=None))  # type: ignore[arg-type]
    assert repo.get_conversation("c5", Scope(team="T2")) is not None


def test_conversations_without_a_team_of_their_own_follow_their_agent(engine: Engine) -> None:
    repo = Repository(engine)
    repo.save(make_conversation("c1", agent_id="A1", team="T1"))
    repo.save(make_conversation("c2", agent_id="A1", team=None))  # type: ignore[arg-type]
    set_agent_team(engine, "A1", "T2")  # moved: the team-less conversation goes along, c1 stays
    assert repo.get_conversation("c2", Scope(team="T2")) is not None
    assert repo.get_conversation("c2", Scope(team="T1")) is None
    assert repo.get_conversation("c1", Scope(team="T1")) is not None


@pytest.mark.parametrize(("agent_id", "team"), [("A" * 300, "T1"), ("A\x00", "T1"), ("A1", "")])
def test_bad_agent_or_team_ids_are_refused(engine: Engine, agent_id: str, team: str) -> None:
    with pytest.raises(InputError):
        set_agent_team(engine, agent_id, team)
