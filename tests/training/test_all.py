"""The full-training command's plan: every shipped model, smoke runs never touch models/."""

from __future__ import annotations

from training.all import steps


def test_default_plan_builds_every_shipped_model() -> None:
    names = [name for name, _, _ in steps([], smoke=False, transformers=False)]
    assert names == ["sentiment", "emotion", "rubric", "role"]
    with_bert = [name for name, _, _ in steps([], smoke=False, transformers=True)]
    assert with_bert[4:] == [
        "pretrain_mlm",
        "emotion-bert",
        "emotion-textcnn",
        "sentiment-bert",
        "sentiment-textcnn",
    ]


def test_smoke_plan_writes_only_under_out() -> None:
    for _, _, argv in steps(["--data-dir", "d"], smoke=True, transformers=True):
        assert "models/emotion" not in argv and "models" not in argv
        if "--out" in argv:
            assert argv[argv.index("--out") + 1].startswith("out")
