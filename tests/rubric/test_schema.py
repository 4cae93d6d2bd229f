from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.errors import E, RubricError
from qa_pipeline.rubric import load_rubric, parse_rubric
from qa_pipeline.settings import PROJECT_DIR

SPEC_ITEMS = {
    "greeting": 5,
    "self_intro": 5,
    "identity_check": 10,
    "forbidden_phrase": 15,
    "empathy": 15,
    "objection_handling": 20,
    "hold_etiquette": 10,
    "interruption": 5,
    "confirmation": 5,
    "closing": 5,
    "satisfaction_invite": 5,
}


def test_default_rubric_expresses_the_spec_exactly() -> None:
    rub = load_rubric(PROJECT_DIR / "rubrics" / "default.yaml")
    assert {i.id: i.points for i in rub.items} == SPEC_ITEMS
    assert rub.total_points == 100
    assert [i.id for i in rub.items if i.fatal] == ["forbidden_phrase"]
    assert rub.item("interruption").channels == ["call"]


def _item(**over: object) -> dict:
    base = {
        "id": "greeting",
        "points": 5,
        "check": {"type": "require", "rule": {"type": "keywords", "any": ["您好"]}},
    }
    base.update(over)
    return base


def test_error_names_rubric_item_and_field() -> None:
    raw = {"id": "mine", "version": "1", "items": [_item(), _item(id="closing", points=-1)]}
    with pytest.raises(RubricError) as err:
        parse_rubric(raw)
    assert err.value.code is E.RUBRIC_INVALID
    assert "rubric 'mine', item 'closing', field 'points'" in err.value.message


def test_unknown_rule_type_and_unknown_field_are_errors() -> None:
    bad_type = {
        "id": "r",
        "version": "1",
        "items": [_item(check={"type": "require", "rule": {"type": "magic"}})],
    }
    with pytest.raises(RubricError, match="item 'greeting'"):
        parse_rubric(bad_type)
    extra = {"id": "r", "version": "1", "items": [_item(colour="red")]}
    with pytest.raises(RubricError, match="colour"):
        parse_rubric(extra)


def test_duplicate_items_and_unknown_refs_are_rejected() -> None:
    with pytest.raises(RubricError, match="duplicate item ids"):
        parse_rubric({"id": "r", "version": "1", "items": [_item(), _item()]})
    ref = _item(check={"type": "require", "rule": {"type": "ref", "ref": "nope"}})
    with pytest.raises(RubricError, match="unknown named rule 'nope'"):
        parse_rubric({"id": "r", "version": "1", "items": [ref]})


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(RubricError) as err:
        load_rubric(bad)
    assert err.value.code is E.RUBRIC_YAML
    with pytest.raises(RubricError) as err2:
        load_rubric(tmp_path / "missing.yaml")
    assert err2.value.code is E.RUBRIC_NOT_FOUND


def test_rule_ids_are_assigned_from_their_place() -> None:
    rub = load_rubric(PROJECT_DIR / "rubrics" / "default.yaml")
    ids = [r.id for item in rub.items for r in item.rules()]
    assert all(ids) and "greeting.rule" in ids
