"""Flag reasons, deadlines, sampling and uncertainty of one scored conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qa_pipeline.review.config import ReviewConfig, load_review_config
from qa_pipeline.review.flags import due_at, emotion_trend, flag_reasons, sampled, uncertainty
from qa_pipeline.settings import PROJECT_DIR
from qa_pipeline.types import ConversationResult, ItemResult, TurnSentiment
from tests.store.factory import make_conversation


def _result(**update: object) -> ConversationResult:
    result = make_conversation().to_result()
    return result.model_copy(update=update)


def _sentiments(*labels_probs: tuple[str, float]) -> list[TurnSentiment]:
    out = []
    for i, (label, p) in enumerate(labels_probs):
        rest = (1 - p) / 2
        probs = {"neg": rest, "neu": rest, "pos": rest} | {label: p}
        out.append(TurnSentiment(turn=i, label=label, probs=probs))
    return out


def test_the_shipped_config_loads() -> None:
    assert load_review_config(PROJECT_DIR / "rubrics" / "review.yaml") == ReviewConfig()


def test_reasons_name_each_cause() -> None:
    fatal = ItemResult(verdict="fail", points=0, max_points=15, fatal=True)
    unsure = ItemResult(verdict="review", points=5, max_points=5)
    result = _result(
        items={"forbidden_phrase": fatal, "greeting": unsure}, quality_index=0.0, emotion_index=20.0
    )
    codes = [r.code for r in flag_reasons(result, ReviewConfig())]
    assert codes == ["fatal", "needs_review", "low_quality", "severe_negative_emotion"]
    assert all(r.text for r in flag_reasons(result, ReviewConfig()))


def test_a_good_conversation_is_not_flagged_unless_sampled() -> None:
    good = _result(items={}, quality_index=95.0, emotion_index=70.0, customer_sentiment=[])
    assert flag_reasons(good, ReviewConfig()) == []
    always = ReviewConfig.model_validate({"sampling": {"ratio": 1.0}})
    assert [r.code for r in flag_reasons(good, always)] == ["sampled"]


def test_worsening_emotion_is_flagged() -> None:
    worse = _sentiments(("pos", 0.9), ("neu", 0.8), ("neg", 0.9))
    assert emotion_trend(_result(customer_sentiment=worse)) is not None
    codes = [
        r.code for r in flag_reasons(_result(emotion_index=60.0, customer_sentiment=worse), ReviewConfig())
    ]
    assert "emotion_worsened" in codes


def test_severe_negative_emotion_is_due_within_two_hours() -> None:
    now = datetime(2026, 4, 8, 12, tzinfo=UTC)
    reasons = flag_reasons(_result(emotion_index=10.0), ReviewConfig())
    assert due_at(reasons, now, ReviewConfig()) == now + timedelta(hours=2)
    assert due_at(flag_reasons(_result(emotion_index=35.0), ReviewConfig()), now, ReviewConfig()) is None


def test_sampling_is_stable_and_near_the_ratio() -> None:
    drawn = [sampled(f"conv-{i}", 0.1) for i in range(5000)]
    assert drawn == [sampled(f"conv-{i}", 0.1) for i in range(5000)]
    assert 0.08 < sum(drawn) / len(drawn) < 0.12


def test_uncertainty_grows_with_review_items_and_flat_sentiment() -> None:
    sure = _result(customer_sentiment=_sentiments(("neu", 0.99)))
    flat = _result(customer_sentiment=_sentiments(("neu", 0.34)))
    assert uncertainty(sure) < uncertainty(flat)


def test_uncertainty_sampling_takes_the_least_certain_per_agent_and_period(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    from sqlalchemy.orm import Session

    from qa_pipeline.review.service import ReviewService
    from qa_pipeline.scoring import ScoringConfig
    from qa_pipeline.store import Repository, init_db
    from qa_pipeline.store.queue import QueueFilter
    from qa_pipeline.store.sampling import sample_uncertain
    from tests.review.conftest import QA

    engine = init_db(f"sqlite:///{tmp_path / 'qa.db'}")
    cfg = ReviewConfig.model_validate({"sampling": {"ratio": 0, "per_agent": 1}, "quality_below": 0})
    repo = Repository(engine, cfg)
    for i, top in enumerate([0.95, 0.40, 0.80]):  # c1 is the least certain of A01's week
        conv = make_conversation(f"c{i}")
        conv.emotion_index = 80.0
        conv.turns[1].sentiment.probs = {"neg": top, "neu": (1 - top) / 2, "pos": (1 - top) / 2}  # type: ignore[union-attr]
        repo.save(conv)
    with Session(engine) as session, session.begin():
        assert sample_uncertain(session, cfg, ZoneInfo("Asia/Shanghai")) == 1
    with Session(engine) as session, session.begin():
        assert sample_uncertain(session, cfg, ZoneInfo("Asia/Shanghai")) == 0  # not twice
    page = ReviewService(repo, ScoringConfig(), cfg).queue(QA, QueueFilter(reason="sampled_uncertain"))
    assert [e.conversation_id for e in page.items] == ["c1"]
    engine.dispose()
