"""The pii stage: turn texts, ASR words and metadata masked; spans recorded; dev-data recall."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qa_pipeline.errors import InputError, PipelineError
from qa_pipeline.pipeline import BuildContext, Failure, Pipeline, Stage, registry
from qa_pipeline.settings import Settings
from qa_pipeline.stages.pii import Pii, mask_value
from qa_pipeline.types import Conversation, PiiSpan, Turn, Word

NUMBER_TYPES = {"phone", "id_card", "bank_card"}
#: measured: 1 false positive, an order number read out as 11 digits 1[3-9]… with no label in its
#: turn (c0134, 幺九零三三八二六七五零); unchanged by the separator, 拐/洞 and order-label changes
DEV_MAX_FALSE_POSITIVES = 1


def build(name: str, raw: dict[str, Any] | None = None) -> Stage:
    return registry.build(name, raw or {}, BuildContext(settings=Settings()))


@pytest.fixture(scope="module")
def pii() -> Pii:
    stage = build("pii")
    assert isinstance(stage, Pii)
    return stage


def conv(*texts: str, metadata: dict[str, Any] | None = None) -> Conversation:
    turns = [Turn(speaker="customer" if i % 2 else "agent", text=t) for i, t in enumerate(texts)]
    return Conversation(id="c1", channel="call", turns=turns, metadata=metadata or {})


def test_turns_masked_and_spans_recorded(pii: Pii) -> None:
    texts = ("请报一下手机号。", "幺三八幺二三四五六七八，身份证410105196207141494", "卡号4367426926252483")
    out = pii(conv(*texts))
    assert [t.text for t in out.turns] == [
        "请报一下手机号。",
        "138****5678，身份证410***********1494",
        "卡号************2483",
    ]
    assert out.pii == [
        PiiSpan(turn=1, type="phone", start_char=0, end_char=11),
        PiiSpan(turn=1, type="id_card", start_char=15, end_char=33),
        PiiSpan(turn=2, type="bank_card", start_char=2, end_char=18),
    ]
    assert out.pii_masked
    for span in out.pii:
        assert span.end_char - span.start_char == len(texts[span.turn][span.start_char : span.end_char])
    assert [len(t.text) for t in out.turns] == [len(t) for t in texts]


def test_order_number_and_partial_digits_not_masked(pii: Pii) -> None:
    texts = ("订单号4367426926252484", "后四位5678，订单号913812345678", "号码是1381234567")
    out = pii(conv(*texts))
    assert [t.text for t in out.turns] == list(texts)
    assert out.pii == [] and out.pii_masked


def test_metadata_masked_recursively(pii: Pii) -> None:
    metadata: dict[str, Any] = {
        "labels": {
            "pii": [{"turn": 1, "type": "phone", "text": "13812345678"}, {"type": "name", "text": "王芳"}]
        },
        "emails": ("wang@example.com",),
        "count": 3,
        "nested": [{"id": "410105196207141494"}, None],
    }
    out = pii(conv("你好", metadata=metadata))
    assert out.metadata == {
        "labels": {
            "pii": [{"turn": 1, "type": "phone", "text": "138****5678"}, {"type": "name", "text": "王芳"}]
        },
        "emails": ("w***@example.com",),
        "count": 3,
        "nested": [{"id": "410***********1494"}, None],
    }
    assert metadata["labels"]["pii"][0]["text"] == "13812345678"  # the caller's dict is not mutated


def test_asr_words_masked_across_word_boundaries(pii: Pii) -> None:
    words = [Word(text=w, start=i, end=i + 1) for i, w in enumerate(["电话", "138", "1234", "5678", "。"])]
    c = conv("电话13812345678。")
    c.turns[0].words = words
    out = pii(c)
    assert [w.text for w in out.turns[0].words] == ["电话", "138", "****", "5678", "。"]
    assert out.turns[0].text == "电话138****5678。"


def test_rerun_is_idempotent(pii: Pii) -> None:
    once = pii(conv("电话13812345678", "邮箱li.lei@example.com", metadata={"x": "13812345678"}))
    snapshot = once.model_dump()
    twice = pii(once)
    assert twice.model_dump() == snapshot
    assert len(twice.pii) == 2


def test_types_option() -> None:
    stage = build("pii", {"types": ["email"]})
    out = stage(conv("电话13812345678 邮箱li@x.cn"))
    assert out.turns[0].text == "电话13812345678 邮箱l*@x.cn"
    assert [s.type for s in out.pii] == ["email"]


@pytest.mark.parametrize(
    "raw", [{"types": ["passport"]}, {"keep_first": 5, "keep_last": 4}, {"mask_char": "0"}, {"keep": 3}]
)
def test_bad_config_is_a_stage_config_error(raw: dict[str, Any]) -> None:
    with pytest.raises(PipelineError) as err:
        build("pii", raw)
    assert err.value.code.value == "QA402"


def test_mask_value_leaves_non_strings() -> None:
    assert mask_value({"a": 1.5, "b": True, "c": None}) == {"a": 1.5, "b": True, "c": None}


def test_metadata_keys_masked_and_colliding_keys_kept(pii: Pii) -> None:
    metadata: dict[str, Any] = {
        "callers": {"13812345678": "first", "13800005678": "second", "plain": 1},
        "li.lei@example.com": ["13912345678"],
    }
    out = pii(conv("你好", metadata=metadata))
    assert out.metadata == {
        "callers": {"138****5678": "first", "138****5678#2": "second", "plain": 1},
        "l*****@example.com": ["139****5678"],
    }
    assert pii(out).metadata == out.metadata  # idempotent, suffixed keys included


@pytest.mark.parametrize("field", ["id", "agent_id", "team"])
@pytest.mark.parametrize("value", ["13812345678", "110101199003077571", "6222021234567894", "li@x.cn"])
def test_personal_data_in_an_identifier_is_refused_without_echo(pii: Pii, field: str, value: str) -> None:
    c = conv("电话13812345678")
    setattr(c, field, f"u-{value}")
    with pytest.raises(InputError) as err:
        pii(c)
    assert (err.value.code.value, err.value.field, err.value.record) == ("QA106", field, None)
    assert "use a non-personal identifier" in err.value.detail
    assert value not in err.value.message and value not in str(err.value.to_dict())
    assert c.turns[0].text == "电话13812345678" and not c.pii_masked  # refused before anything ran


def test_pipeline_reports_a_personal_identifier_as_a_failed_conversation(pii: Pii) -> None:
    bad, good = conv("你好"), conv("电话13812345678")
    bad.agent_id = "13812345678"
    out = Pipeline([pii]).run_batch([bad, good])
    assert isinstance(out[0], Failure) and "QA106" in out[0].error.message
    assert "13812345678" not in out[0].error.message
    assert isinstance(out[1], Conversation) and out[1].turns[0].text == "电话138****5678"


def test_ordinary_identifiers_pass(pii: Pii) -> None:
    c = conv("你好")
    c.id, c.agent_id, c.team = "c0134-2024-06-18", "A01", "T1"
    assert pii(c).pii_masked


# --- the development conversations -----------------------------------------------------------------


def _load_dev(path: Path) -> list[tuple[Conversation, dict[str, Any]]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        turns = [Turn(**{k: t[k] for k in ("speaker", "text", "start", "end")}) for t in rec["turns"]]
        meta = {"industry": rec["industry"], "scenario": rec["scenario"], "labels": rec["labels"]}
        out.append((Conversation(id=rec["id"], channel=rec["channel"], turns=turns, metadata=meta), rec))
    return out


@pytest.mark.data
def test_dev_number_pii_recall_and_false_positives(dialogues_path: Path) -> None:
    normalize, pii = build("normalize"), build("pii")
    labelled = found = false_pos = 0
    for conv_in, rec in _load_dev(dialogues_path):
        before = [t.text for t in normalize(conv_in).turns]
        out = pii(conv_in)
        items = [p for p in rec["labels"].get("pii", []) if p["type"] in NUMBER_TYPES]
        for item in items:
            labelled += 1
            start = before[item["turn"]].index(item["text"])
            span = PiiSpan(
                turn=item["turn"], type=item["type"], start_char=start, end_char=start + len(item["text"])
            )
            found += span in out.pii
            assert item["text"] not in out.turns[item["turn"]].text
        truth = {(p["turn"], p["text"]) for p in items}
        false_pos += sum((s.turn, before[s.turn][s.start_char : s.end_char]) not in truth for s in out.pii)
        dumped = json.dumps(out.metadata, ensure_ascii=False)
        assert not any(p["text"] in dumped for p in items), rec["id"]
    assert labelled == 26
    assert found == labelled  # recall 1.0, with the right type and offsets
    assert false_pos <= DEV_MAX_FALSE_POSITIVES
