"""Character vectors: characters in the same company end up close; the file round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training import char_vectors, train_rubric
from training.char_vectors import CharVectors


def _corpus() -> list[str]:
    # 贵 and 高 keep the same company (价格太_了), 快 and 慢 another (物流太_了); 退 a third
    out = []
    for a, b in (("价格", "贵"), ("价格", "高"), ("物流", "快"), ("物流", "慢")):
        out += [f"这个{a}太{b}了吧", f"{a}真{b}啊", f"觉得{a}有点{b}"] * 5
    out += ["我要退款", "申请退货", "退钱给我"] * 5
    return out


def test_characters_in_the_same_company_are_closer_than_others() -> None:
    vectors = char_vectors.char_vectors(_corpus(), dim=8, window=2, min_count=1).lookup()
    cos = lambda a, b: float(vectors[a] @ vectors[b])  # noqa: E731  (rows are unit length)
    assert cos("贵", "高") > cos("贵", "退") + 0.3
    assert cos("快", "慢") > cos("快", "款") + 0.3
    assert np.allclose([np.linalg.norm(v) for v in vectors.values()], 1.0, atol=1e-4)


def test_vectors_round_trip_through_the_npz_file(tmp_path: Path) -> None:
    made = char_vectors.char_vectors(_corpus(), dim=4, min_count=1)
    again = CharVectors.load(made.save(tmp_path / "sub" / "v.npz"))
    assert again.chars == made.chars and np.array_equal(again.vectors, made.vectors)
    assert again.vectors.shape == (len(made.chars), 4)


def test_too_little_text_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="1 distinct characters for vectors of 4"):
        char_vectors.char_vectors(["啊啊"], dim=4, min_count=1)
    with pytest.raises(ValueError, match="a smaller dim"):
        char_vectors.char_vectors(_corpus(), dim=64, min_count=1)  # 28 characters


def test_a_missing_data_folder_exits_2(tmp_path: Path) -> None:
    assert char_vectors.main(["--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "v.npz")]) == 2
    assert not (tmp_path / "v.npz").exists()


def test_the_cnn_family_needs_the_vectors_and_says_how_to_make_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    task = next(t for t in train_rubric.TASKS if t.name == "objection-pair")
    with pytest.raises(FileNotFoundError, match=r"python -m training\.char_vectors"):
        train_rubric.model_maker(task, "cnn-mean", tmp_path / "none.npz")
    monkeypatch.setattr(train_rubric, "CHAR_VECTORS", tmp_path / "none.npz")
    args = ["--family", "cnn-mean", "--task", "objection-pair", "--models-dir", str(tmp_path)]
    with caplog.at_level("ERROR", logger="training.train_rubric"):
        assert train_rubric.main(args) == 2
    assert "none.npz is missing: make it first with python -m training.char_vectors" in caplog.text
    assert not (tmp_path / "rubric-objection-pair").exists()


def test_the_cnn_family_is_the_tfidf_model_averaged_with_a_started_cnn(tmp_path: Path) -> None:
    task = next(t for t in train_rubric.TASKS if t.name == "mood-pair")
    vectors = np.random.default_rng(0).normal(size=(80, 64)).astype(np.float32)
    path = CharVectors("".join(chr(0x4E00 + i) for i in range(80)), vectors).save(tmp_path / "v.npz")
    made = train_rubric.model_maker(task, "cnn-mean", path, jobs=2)()
    tfidf, cnn = made.members
    assert type(tfidf) is type(train_rubric.build_model())
    assert cnn.init_vectors == str(path) and cnn.threads == 1 and cnn.embed_dim == 64
    assert type(train_rubric.model_maker(task)()) is type(tfidf)


def test_a_family_that_does_not_ship_writes_outside_models_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Path] = []
    monkeypatch.setattr(
        train_rubric, "train_one", lambda task, ex, models_dir, *rest: seen.append(models_dir)
    )
    monkeypatch.setattr(
        train_rubric,
        "CHAR_VECTORS",
        CharVectors("甲乙", np.eye(2, dtype=np.float32)).save(tmp_path / "v.npz"),
    )
    assert train_rubric.main(["--family", "cnn-mean", "--task", "mood-pair"]) == 0
    assert train_rubric.main(["--task", "mood-pair"]) == 0
    assert seen == [train_rubric.PROJECT_DIR / "out" / "models-cnn-mean", train_rubric.PROJECT_DIR / "models"]
