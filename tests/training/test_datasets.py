from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from training import datasets as ds
from training.datasets import Example, MixOptions


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_normalise_is_the_dedup_key() -> None:
    assert ds.normalise("  好  评！ ") == ds.normalise("好 评!") == "好 评!"


def test_dedup_keeps_first_drops_conflicts_and_eval_texts() -> None:
    examples = [
        Example("质量很好", "pos", "a"),
        Example(" 质量很好 ", "pos", "b"),
        Example("一般般", "pos", "a"),
        Example("一般般", "neg", "b"),
        Example("测试集里的句子", "neg", "a"),
        Example("   ", "neg", "a"),
    ]
    kept, stats = ds.dedup(examples, exclude={ds.normalise("测试集里的句子")})
    assert kept == [Example("质量很好", "pos", "a")]
    assert stats == {"duplicate": 2, "in_eval_files": 1, "empty": 1, "label_conflict": 1}


def test_readers_map_labels(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "r.tsv", "label\ttext\tsource\n1\t很好\twaimai_10k\n0\t很差\twaimai_10k\n")
    assert [(e.label, e.source) for e in ds.read_binary_tsv(tsv)] == [
        ("pos", "waimai_10k"),
        ("neg", "waimai_10k"),
    ]
    smp = _write(
        tmp_path / "s.jsonl",
        "\n".join(
            json.dumps({"text": t, "label": lab}, ensure_ascii=False)
            for t, lab in [
                ("开心", "happy"),
                ("生气", "angry"),
                ("天哪", "surprise"),
                ("今天周一", "neutral"),
            ]
        ),
    )
    assert [(e.text, e.label) for e in ds.read_smp(smp)] == [
        ("开心", "pos"),
        ("生气", "neg"),
        ("今天周一", "neu"),
    ]
    chat = _write(tmp_path / "c.tsv", "label\ttext\n1\t谢谢 妹妹 加 朋友\n")
    assert list(ds.read_chat(chat, weight=0.5)) == [Example("谢谢妹妹加朋友", "pos", "xs_chat", 0.5)]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("我的订单怎么还没发货", "neg"),
        ("我要投诉", "neg"),
        ("好的，谢谢", "pos"),
        ("请问什么时候能到", "neu"),
        ("没有了", "neu"),
        ("一直在等", None),  # weak cue only: not used
        ("非常抱歉给您带来不便", None),  # agent apology: not used
        ("12345", None),  # no Chinese
    ],
)
def test_cue_label(text: str, label: str | None) -> None:
    assert ds.cue_label(text) == label


def test_fill_slots_replaces_numbers_and_drops_other_slots() -> None:
    text = ds.fill_slots("订单[ORDERID_10005629]金额[金额x]，[姓名x]您好#E-s[数字x]", random.Random(0))
    assert "[" not in text and "#E-s" not in text
    assert text.startswith("订单") and "您好" in text
    assert any(ch.isdigit() for ch in text)


def test_read_jddc_splits_turns_and_caps_neutral(tmp_path: Path) -> None:
    enc = _write(
        tmp_path / "j.enc",
        "请问什么时候发货,怎么还没发货,好的谢谢,\n请问能改地址吗,查一下物流,请问什么时候发货,\n",
    )
    examples = ds.read_jddc(enc, neutral_max=2, seed=1)
    labels = sorted(e.label for e in examples)
    assert labels == ["neg", "neu", "neu", "pos"]
    assert len({e.text for e in examples}) == 4


def test_iter_eval_texts_reads_every_format(tmp_path: Path) -> None:
    _write(tmp_path / "a.tsv", "label\ttext\n1\t甲\n")
    _write(tmp_path / "b.csv", "Sentiment,Utterance\nneutral,乙\n")
    _write(tmp_path / "c.jsonl", json.dumps({"turns": [{"speaker": "agent", "text": "丙"}]}) + "\n")
    _write(tmp_path / "d.json", json.dumps([{"turns": [{"sender": "customer", "utterances": ["丁"]}]}]))
    found = [
        t for name in ["a.tsv", "b.csv", "c.jsonl", "d.json"] for t in ds.iter_eval_texts(tmp_path / name)
    ]
    assert found == ["甲", "乙", "丙", "丁"]


def test_stratified_split_is_deterministic_and_covers_every_stratum() -> None:
    examples = [Example(f"t{i}", lab, src) for i in range(40) for lab, src in [("pos", "a"), ("neg", "b")]]
    train, held = ds.stratified_split(examples, 0.1, seed=3)
    assert len(held) == 8 and len(train) == 72
    assert {(e.source, e.label) for e in held} == {("a", "pos"), ("b", "neg")}
    assert ds.stratified_split(examples, 0.1, seed=3) == (train, held)
    assert not set(held) & set(train)


def _fake_data_dir(root: Path) -> Path:
    _write(
        root / ds.REVIEWS,
        "label\ttext\tsource\n1\t很好很好\twaimai_10k\n0\t很差\twaimai_10k\n0\t开发集句子\tx\n",
    )
    _write(
        root / ds.SMP_TRAIN, json.dumps({"text": "今天下雨", "label": "neutral"}, ensure_ascii=False) + "\n"
    )
    _write(root / ds.CHAT, "label\ttext\n1\t很 好 很 好\n")
    _write(root / ds.JDDC, "请问什么时候发货,\n")
    _write(root / ds.DEV, "label\ttext\n0\t开发集句子\n")
    return root


def test_build_mix_dedups_excludes_eval_and_records_files(tmp_path: Path) -> None:
    mix = ds.build_mix(_fake_data_dir(tmp_path), MixOptions(seed=1, own_examples=None))
    texts = sorted(e.text for e in mix.examples)
    assert texts == sorted(["很好很好", "很差", "今天下雨", "请问什么时候发货"])
    assert mix.dropped["in_eval_files"] == 1 and mix.dropped["duplicate"] == 1
    assert set(mix.files) == {ds.REVIEWS, ds.SMP_TRAIN, ds.CHAT, ds.JDDC}
    assert all(len(h) == 64 for h in mix.files.values())


def test_own_examples_join_the_mix_and_their_labels_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ds, "EVALUATION_DIRS", ())  # only the fake data's evaluation files
    own = tmp_path / "own.jsonl"
    own.write_text(
        '{"text": "很差", "label": "neu", "speaker": "customer"}\n'
        '{"text": "没了。", "label": "neu", "speaker": "customer"}\n',
        encoding="utf-8",
    )
    opts = MixOptions(seed=1, own_examples=str(own), own_weight=5.0)  # an absolute path stays absolute
    mix = ds.build_mix(_fake_data_dir(tmp_path), opts)
    labels = {e.text: (e.label, e.weight, e.source) for e in mix.examples}
    assert labels["很差"] == ("neu", 5.0, "own_dialogue")  # the review's neg label gave way
    assert labels["没了。"] == ("neu", 5.0, "own_dialogue")
    assert str(own) in mix.files


def test_build_mix_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train\.tsv"):
        ds.build_mix(tmp_path, MixOptions())


def test_hold_out_texts_never_join_the_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holdout = tmp_path / "holdout"
    holdout.mkdir()
    record = {"id": "h1", "turns": [{"speaker": "customer", "text": "请问什么时候发货"}], "labels": {}}
    (holdout / "writer-x.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    monkeypatch.setattr(ds, "EVALUATION_DIRS", (holdout,))
    texts = {e.text for e in ds.build_mix(_fake_data_dir(tmp_path), MixOptions(seed=1)).examples}
    assert "请问什么时候发货" not in texts
