"""The rubric classifiers train from the repo's own examples (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.metadata import read_metadata
from qa_pipeline.rubric.models import pair_text, window_text
from training import rubric_sources, train_rubric


@pytest.mark.slow
def test_train_rubric_exports_models_with_writer_and_industry_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    args = [
        "--models-dir",
        str(tmp_path),
        "--folds",
        "3",
        "--task",
        "handling",
        "--task",
        "confirmation-window",
    ]
    assert train_rubric.main(args) == 0
    handling = read_metadata(tmp_path / "rubric-handling")
    assert handling.metrics["cv_macro_f1"] > 0.6
    assert [f.path for f in handling.data_files] == ["rubrics/examples/handling.jsonl"]
    window = read_metadata(tmp_path / "rubric-confirmation-window")
    assert 0.1 <= window.metrics["cv_threshold"] <= 0.95
    # leave-one-writer-out (each examples file is one writer) and leave-one-industry-out figures
    assert "lowo_confirmation_dialogue_f1" in window.metrics and "loio_banking_f1" in window.metrics
    assert not any("forbidden" in k for k in window.metrics)  # a file lending one label is no writer
    model = load_classifier(tmp_path / "rubric-handling", models_dir=tmp_path)
    assert model.labels == ["dismissed", "handled"]


def test_missing_examples_exit_2(tmp_path: Path) -> None:
    assert train_rubric.main(["--examples", str(tmp_path), "--models-dir", str(tmp_path)]) == 2


def test_threshold_maximises_out_of_fold_f1_of_the_positive_labels() -> None:
    classes = ["neg", "neu", "pos"]
    probs = np.array([[0.7, 0.2, 0.1], [0.46, 0.5, 0.04], [0.22, 0.68, 0.1], [0.1, 0.1, 0.8]])
    labels = ["neg", "neg", "neu", "pos"]
    cut = train_rubric.positive_threshold(probs, classes, labels, ("neg",))
    assert 0.22 < cut <= 0.46  # low enough for both negatives, above the neutral turn's 0.22
    assert train_rubric.positive_threshold(probs, classes, labels, ("other",)) == 0.5


def test_examples_from_several_files_keep_their_writer_and_skip_repeats(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        '{"agent": "要三天", "customer": "这么久？", "label": "delay", "industry": "物流"}\n',
        encoding="utf-8",
    )
    (tmp_path / "b.jsonl").write_text(
        '{"agent": "要三天", "customer": "这么久？", "label": "delay"}\n', encoding="utf-8"
    )
    (tmp_path / "c.jsonl").write_text(
        '{"text": "谢谢", "label": "pos"}\n{"text": "行吧", "label": "neu"}\n'
        '{"text": "太过分了", "label": "neg"}\n',
        encoding="utf-8",
    )
    task = train_rubric.RubricTask(
        "t",
        (
            rubric_sources.Source("a.jsonl", rubric_sources.objection_pair),
            rubric_sources.Source("b.jsonl", rubric_sources.objection_pair),
            rubric_sources.Source("c.jsonl", rubric_sources.settled_customer_turn),
        ),
        "test",
    )
    ex = train_rubric.read_examples(tmp_path, task)
    assert ex.texts == [pair_text("要三天", "这么久？"), pair_text("", "谢谢"), pair_text("", "行吧")]
    assert ex.labels == ["delay", "none", "none"] and ex.groups == ["a.jsonl", "c.jsonl", "c.jsonl"]
    assert ex.industries == ["物流", "", ""] and task.files == ["a.jsonl", "b.jsonl", "c.jsonl"]


def test_retired_dialogues_are_one_writer_group_in_no_industry(tmp_path: Path) -> None:
    """A retired hold-out's file (an absolute path) is read like the training dialogues, but its writers
    are left out together and its industries stay out of the leave-one-industry-out figure."""
    retired = tmp_path / "elsewhere" / "writer-9.jsonl"
    retired.parent.mkdir()
    retired.write_text(
        json.dumps({**DIALOGUE, "industry": "物流"}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    source = rubric_sources.Source(
        str(retired), rubric_sources.dialogue_moods, rubric_sources.RETIRED_GROUP, industries=False
    )
    ex = train_rubric.read_examples(tmp_path / "examples", train_rubric.RubricTask("t", (source,), "test"))
    assert ex.labels == ["neg", "neg", "pos"]
    assert set(ex.groups) == {rubric_sources.RETIRED_GROUP} and set(ex.industries) == {""}
    assert train_rubric._data_name(str(train_rubric.PROJECT_DIR / "tests" / "x.jsonl")) == "tests/x.jsonl"
    assert train_rubric._data_name("a.jsonl") == "rubrics/examples/a.jsonl"


def test_four_dialogue_models_read_the_retired_hold_outs() -> None:
    from training.datasets import RETIRED_DIRS

    assert len(rubric_sources.RETIRED_DIALOGUES) >= 30
    assert all(any(Path(f).is_relative_to(d) for d in RETIRED_DIRS) for f in rubric_sources.RETIRED_DIALOGUES)
    reads = {t.name: set(t.files) for t in train_rubric.TASKS}
    late = set(rubric_sources.LATE_RETIRED_DIALOGUES)
    assert len(late) >= 10 and late <= set(rubric_sources.RETIRED_DIALOGUES)
    for name in ("objection-pair", "handling-2"):  # retrained with hold-outs 12-16 at stop 29
        assert set(rubric_sources.RETIRED_DIALOGUES) <= reads[name], name
    for name in ("mood-pair", "forbidden-2"):  # their shipped fits predate it: a retrain reproduces them
        assert set(rubric_sources.RETIRED_DIALOGUES) - late <= reads[name], name
        assert not late & reads[name], name
    assert not set(rubric_sources.RETIRED_DIALOGUES) & reads["confirmation-window"]
    by_task = {t.name: t.late_retired for t in train_rubric.TASKS}
    assert {n for n, v in by_task.items() if v} == {"objection-pair", "handling-2"}


def test_each_shipped_dialogue_model_was_trained_on_the_files_its_task_reads() -> None:
    """The shipped models' metadata lists the data files their task reads now (a plain retrain uses the
    same retired hold-outs as the shipped fit)."""
    import json

    for task in train_rubric.TASKS:
        meta = train_rubric.PROJECT_DIR / "models" / f"rubric-{task.name}" / "metadata.json"
        if not meta.is_file() or task.name in train_rubric.V1:
            continue
        shipped = {f["path"] for f in json.loads(meta.read_text(encoding="utf-8"))["data_files"]}
        assert shipped == {train_rubric._data_name(f) for f in task.files}, task.name


def test_a_context_turn_from_an_evaluation_file_is_a_leak() -> None:
    keys = {"请问您的手机号是多少呢"}
    assert train_rubric._leaks(pair_text("请问您的手机号是多少呢", "不告诉你"), keys)
    assert not train_rubric._leaks(pair_text("好的", "不告诉你"), {"好的"})  # short context turns are common
    assert train_rubric._leaks(pair_text("", "好的"), {"好的"})  # the judged turn itself, at any length


DIALOGUE = {
    "id": "t-001",
    "turns": [
        {"speaker": "agent", "text": "您好，请问有什么可以帮您？"},
        {"speaker": "customer", "text": "我的快递三天了还没到"},
        {"speaker": "agent", "text": "按规定要五个工作日"},
        {"speaker": "customer", "text": "五天？那我不要了"},
        {"speaker": "agent", "text": "规定就是这样"},
        {"speaker": "agent", "text": "理解您着急，我帮您申请加急，今天下午发出"},
        {"speaker": "customer", "text": "行，谢谢"},
    ],
    "labels": {
        "customer_sentiment": ["neg", "neg", "pos"],
        "objection_handling": {
            "verdict": "pass",
            "objections": [{"turn": 3, "type": "cancel", "handled": True}],
        },
    },
}


def test_labelled_dialogues_lend_moods_objections_and_handling() -> None:
    moods = rubric_sources.dialogue_moods(DIALOGUE)
    assert moods == [
        (pair_text("您好，请问有什么可以帮您？", "我的快递三天了还没到"), "neg"),
        (pair_text("按规定要五个工作日", "五天？那我不要了"), "neg"),
        (pair_text("理解您着急，我帮您申请加急，今天下午发出", "行，谢谢"), "pos"),
    ]
    # the opening complaint is never asked about; later turns are objections (typed) or none
    assert [label for _, label in rubric_sources.dialogue_objections(DIALOGUE)] == ["cancel", "none"]
    # handled on the second reply: both replies together are the handled example
    assert rubric_sources.dialogue_handling(DIALOGUE) == [
        (pair_text("五天？那我不要了", "规定就是这样 | 理解您着急，我帮您申请加急，今天下午发出"), "handled")
    ]
    unhandled = {**DIALOGUE, "labels": {**DIALOGUE["labels"], "objection_handling": {
        "verdict": "fail", "objections": [{"turn": 3, "type": "cancel", "handled": False}]}}}  # fmt: skip
    assert [label for _, label in rubric_sources.dialogue_handling(unhandled)] == ["dismissed", "dismissed"]


def test_a_dialogue_whose_moods_do_not_match_its_turns_lends_none() -> None:
    broken = {**DIALOGUE, "labels": {**DIALOGUE["labels"], "customer_sentiment": ["neg"]}}
    assert rubric_sources.dialogue_moods(broken) == []


def test_labelled_dialogues_lend_their_ending_and_every_agent_turn() -> None:
    labels = {
        **DIALOGUE["labels"],
        "confirmation": "pass",
        "forbidden_phrase": {"verdict": "fail", "turns": [4]},
    }
    dialogue = {**DIALOGUE, "labels": labels}
    agent = [t["text"] for t in DIALOGUE["turns"] if t["speaker"] == "agent"]
    assert rubric_sources.dialogue_confirmation(dialogue) == [(window_text(agent[-3:]), "restated")]
    vague = {**dialogue, "labels": {**labels, "confirmation": "fail"}}
    assert [label for _, label in rubric_sources.dialogue_confirmation(vague)] == ["none"]
    assert rubric_sources.dialogue_forbidden(dialogue) == [
        (agent[0], "ok"),
        (agent[1], "ok"),
        ("规定就是这样", "forbidden"),
        (agent[3], "ok"),
    ]


def test_settled_turns_follow_the_agent_turn_of_an_objection_as_none(tmp_path: Path) -> None:
    (tmp_path / "ctx.jsonl").write_text(
        '{"agent": "这个套餐每月一百九十九元", "customer": "太贵了", "label": "price"}\n'
        '{"agent": "您好", "customer": "我想查话费", "label": "none"}\n'
        '{"agent": "", "customer": "太贵了", "label": "price"}\n',
        encoding="utf-8",
    )
    (tmp_path / "mood.jsonl").write_text(
        '{"text": "好的谢谢", "label": "pos"}\n{"text": "这也太离谱了吧你们", "label": "neg"}\n',
        encoding="utf-8",
    )
    source = rubric_sources.SettledInContext("ctx.jsonl", ("mood.jsonl",))
    pairs = [(text, label) for _, text, label in source.pairs(tmp_path)]
    assert pairs == [(pair_text("这个套餐每月一百九十九元", "好的谢谢"), "none")]  # only after an objection


def test_groups_left_out_in_parallel_score_as_one_at_a_time() -> None:
    pos = ["太贵了", "能便宜点吗", "凭什么收费", "这价格离谱", "别家更便宜"]
    neg = ["好的谢谢", "明白了", "我知道了", "那就这样", "可以的"]
    texts, labels, groups = [], [], []
    for g in ("w1", "w2", "w3"):
        for i in range(16):
            texts += [f"{pos[i % 5]}{g}{i}", f"{neg[i % 5]}{g}{i}"]
            labels += ["price", "none"]
            groups += [f"{g}.jsonl"] * 2
    groups[-2:] = ["tiny.jsonl"] * 2  # under 30 examples: skipped
    ex = train_rubric.Examples(texts, labels, groups, [""] * len(texts))
    one = train_rubric.leave_one_out(ex, ex.groups, ("price",), jobs=1)
    two = train_rubric.leave_one_out(ex, ex.groups, ("price",), jobs=2)
    assert one == two and set(one) == {f"{g}_{m}" for g in ("w1", "w2", "w3") for m in ("accuracy", "f1")}
    cv = [train_rubric.cross_validate(ex, 3, 13, ("price",), jobs=n).metrics for n in (1, 2)]
    assert cv[0] == cv[1]  # the folds fitted two at a time give the same cut-off and figures


def test_jobs_must_be_a_positive_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        train_rubric.main(["--jobs", "0", "--task", "handling"])
    assert exit_.value.code == 2 and "--jobs" in capsys.readouterr().err
