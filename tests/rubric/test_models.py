"""Trained rubric classifiers in rules: batch predictions, pair inputs, speaker scope, thresholds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from qa_pipeline.classifiers.base import Probs, TextClassifier
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.rubric import parse_rubric
from qa_pipeline.rubric.models import RubricModels, classifier_rules, model_inputs, pair_text
from qa_pipeline.rubric.rule_base import following_turns, follows_hit
from qa_pipeline.rubric.rules import ClassifierRule, MatchContext
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.rubric.scorecard import Scorecard
from qa_pipeline.settings import PROJECT_DIR, Settings
from qa_pipeline.types import Conversation, Turn

TUNING = PROJECT_DIR / "tests" / "data" / "tuning"


class _Keyword(TextClassifier):
    """Debug model: 'yes' with p=0.9 when the text contains the word, and it counts its calls."""

    def __init__(self, word: str) -> None:
        self.labels, self.version, self.word, self.calls = ["yes", "no"], "kw", word, 0

    def _forward(self, texts: list[str]) -> Probs:
        self.calls += 1
        p = np.array([0.9 if self.word in t else 0.1 for t in texts])
        return np.stack([p, 1 - p], axis=1)


def conv(*turns: tuple[str, str]) -> Conversation:
    return Conversation(id="c", channel="chat", turns=[Turn(speaker=s, text=t) for s, t in turns])  # type: ignore[arg-type]


def rule(**kw: object) -> ClassifierRule:
    return ClassifierRule.model_validate({"type": "classifier", "model": "m", "labels": ["yes"], **kw})


def test_pair_inputs_read_the_previous_customer_turn() -> None:
    c = conv(("agent", "您好"), ("customer", "太贵了"), ("agent", "可以换套餐"), ("agent", "还有吗"))
    r = rule(pair=True, speaker="agent")
    assert model_inputs(c, r) == [
        pair_text("", "您好"),
        None,
        pair_text("太贵了", "可以换套餐"),
        pair_text("太贵了", "还有吗"),
    ]


def test_one_predict_call_per_rule_for_a_whole_batch_and_threshold() -> None:
    model = _Keyword("贵")
    r = rule(speaker="customer", min_prob=0.8)
    models = RubricModels({"m": model}, [r])
    convs = [conv(("agent", "您好"), ("customer", "太贵了")), conv(("customer", "好的"))]
    preds = models.predict(convs)
    assert model.calls == 1
    assert preds[0][r.key][0] is None and preds[0][r.key][1] is not None
    ctx = MatchContext(conv=convs[0], model_preds=preds[0])
    assert [h.turn for h in r.find(ctx)] == [1]
    assert rule(speaker="customer", min_prob=0.95).find(ctx) == []  # key differs: no predictions, no hit
    assert r.find(MatchContext(conv=convs[1], model_preds=preds[1])) == []


@pytest.mark.parametrize(
    ("rubric", "expected"),
    [
        (
            None,
            {"rubric-objection-pair", "rubric-handling-2", "rubric-empathy-pair", "rubric-mood-pair",
             "rubric-confirmation-window", "rubric-forbidden-2"},
        ),  # the archived scorecard still runs on the models it shipped with (bench.generalisation "before")
        (
            PROJECT_DIR / "rubrics" / "archive" / "default-1.0.0.yaml",
            {"rubric-empathy", "rubric-handling", "rubric-forbidden"},
        ),
    ],
)  # fmt: skip
def test_rubrics_load_their_shipped_classifiers(rubric: Path | None, expected: set[str]) -> None:
    settings = Settings() if rubric is None else Settings(rubric=rubric)
    stage = registry.build("rubric", {}, BuildContext(settings=settings))
    names = set(stage.models.classifiers)  # type: ignore[attr-defined]
    assert names == expected
    for name in names:
        assert (PROJECT_DIR / "models" / name / "metadata.json").is_file()


def test_classifier_rules_are_run_once_per_key() -> None:
    from qa_pipeline.rubric import load_rubric

    rubric = load_rubric(Settings().rubric)
    rules = classifier_rules(rubric)
    models = RubricModels({}, rules)
    assert len(models.rules) == len({r.key for r in rules}) >= 3
    assert sum(len(group) for group in models.by_key.values()) == len(rules)


def test_a_model_reads_every_turn_a_rule_of_its_key_may_read() -> None:
    """A rule limited to the last turn does not narrow what another rule of the same key reads."""
    c = conv(("agent", "规定一"), ("agent", "规定二"))
    last, every = rule(speaker="agent", last_turns=1), rule(speaker="agent")
    preds = RubricModels({"m": _Keyword("规定")}, [last, every]).predict([c])[0][every.key]
    assert [h.turn for h in every.find(MatchContext(conv=c, model_preds={every.key: preds}))] == [0, 1]


def test_disguised_forbidden_phrase_is_caught_by_the_trained_model(tmp_path: Path) -> None:
    settings = Settings()
    pipeline_stage = registry.build("rubric", {}, BuildContext(settings=settings))
    models = pipeline_stage.models  # type: ignore[attr-defined]
    preds = models.classifiers["rubric-forbidden-2"].predict(
        ["早干嘛去了，现在才想起来问", "我帮您查一下物流"]
    )
    assert preds[0].probs["forbidden"] > 0.5 > preds[1].probs["forbidden"]
    with pytest.raises(ValueError):
        rule(min_prob=2.0)


def test_fatal_fail_resting_only_on_a_review_only_model_goes_to_review() -> None:
    from tests.rubric.conftest import fatal_forbid_rubric

    rubric = fatal_forbid_rubric(
        {
            "type": "any",
            "rules": [
                {"type": "keywords", "any": ["爱买不买"], "speaker": "agent"},
                {
                    "type": "classifier",
                    "model": "m",
                    "labels": ["yes"],
                    "min_prob": 0.8,
                    "speaker": "agent",
                    "review": True,
                },
            ],
        }
    )
    card = Scorecard(rubric)
    models = RubricModels({"m": _Keyword("规定")}, classifier_rules(rubric))
    model_only = conv(("agent", "规定就是这样"))
    keyword = conv(("agent", "爱买不买"), ("agent", "规定就是这样"))
    for c, verdict in ((model_only, "review"), (keyword, "fail"), (conv(("agent", "您好")), "pass")):
        (preds,) = models.predict([c])
        assert card.evaluate(c, preds)["banned"].verdict == verdict


def test_pair_with_agent_reads_the_agent_turn_before() -> None:
    from qa_pipeline.rubric.models import model_inputs, pair_text
    from qa_pipeline.rubric.rules import ClassifierRule
    from tests.rubric.conftest import make_conv

    conv = make_conv([("customer", "我要退订"), ("agent", "可以给您打八折"), ("customer", "那也太贵了")])
    rule = ClassifierRule(
        type="classifier", model="m", labels=["price"], speaker="customer", pair=True, pair_with="agent"
    )
    assert model_inputs(conv, rule) == [
        pair_text("", "我要退订"),
        None,
        pair_text("可以给您打八折", "那也太贵了"),
    ]
    customer = rule.model_copy(update={"pair_with": "customer"})
    assert model_inputs(conv, customer)[2] == pair_text("我要退订", "那也太贵了") and customer.key != rule.key


def test_window_joins_the_speakers_last_turns_oldest_first() -> None:
    from qa_pipeline.rubric.models import model_inputs, pair_text, window_text
    from qa_pipeline.rubric.rules import ClassifierRule
    from tests.rubric.conftest import make_conv

    conv = make_conv(
        [
            ("agent", "您好"),
            ("customer", "我要改地址"),
            ("agent", "已改到朝阳区"),
            ("customer", "好的谢谢"),
            ("agent", "明天送到，还有别的吗"),
        ]
    )
    rule = ClassifierRule(type="classifier", model="m", labels=["restated"], speaker="agent", window=2)
    assert model_inputs(conv, rule) == [
        "您好",
        None,
        window_text(["您好", "已改到朝阳区"]),
        None,
        window_text(["已改到朝阳区", "明天送到，还有别的吗"]),
    ]
    paired = rule.model_copy(update={"pair": True})
    assert model_inputs(conv, paired)[4] == pair_text(
        "好的谢谢", window_text(["已改到朝阳区", "明天送到，还有别的吗"])
    )
    assert len({rule.key, paired.key, rule.model_copy(update={"window": None}).key}) == 3


def test_sentences_keep_the_best_sentence_of_a_long_turn() -> None:
    from qa_pipeline.rubric.models import sentence_variants

    assert sentence_variants(pair_text("太慢了", "确实久了。我帮您催。")) == [
        pair_text("太慢了", "确实久了。我帮您催。"),
        pair_text("太慢了", "确实久了。"),
        pair_text("太慢了", "我帮您催。"),
    ]
    assert sentence_variants("一句话") == ["一句话"]
    r = rule(sentences=True, min_prob=0.5)
    whole = rule(min_prob=0.5)
    turns = [("agent", "规定")]

    class _Short(_Keyword):  # 'yes' only when the word is most of the text
        def _forward(self, texts: list[str]) -> Probs:
            p = np.array([0.9 if self.word in t and len(t) < 6 else 0.1 for t in texts])
            return np.stack([p, 1 - p], axis=1)

    c = conv(("agent", "您好，这边查到了订单。规定。"), *turns)
    preds = RubricModels({"m": _Short("规定")}, [r, whole]).predict([c])[0]
    ctx = MatchContext(conv=c, model_preds=preds)
    assert [h.turn for h in r.find(ctx)] == [0, 1] and [h.turn for h in whole.find(ctx)] == [1]


def test_mean_rule_averages_model_probabilities() -> None:
    from qa_pipeline.rubric.rules import Mean
    from qa_pipeline.types import Prediction

    mean = Mean.model_validate(
        {"type": "mean", "min_prob": 0.6, "rules": [
            {"type": "classifier", "model": "m", "labels": ["yes"]},
            {"type": "sentiment", "label": "neg"},
        ]}
    )  # fmt: skip
    c = conv(("customer", "规定"), ("customer", "规定"), ("customer", "好的"))
    c.turns[0].sentiment = Prediction(label="neg", probs={"neg": 0.5, "neu": 0.5})  # mean 0.7
    c.turns[1].sentiment = Prediction(label="neu", probs={"neg": 0.1, "neu": 0.9})  # mean 0.5
    c.turns[2].sentiment = Prediction(label="neg", probs={"neg": 0.95, "neu": 0.05})  # mean 0.525
    preds = RubricModels({"m": _Keyword("规定")}, classifier_rules_of(mean)).predict([c])[0]
    hits = mean.find(MatchContext(conv=c, model_preds=preds))
    assert [h.turn for h in hits] == [0] and hits[0].score == pytest.approx(0.7)
    with pytest.raises(ValueError):
        Mean.model_validate({"type": "mean", "rules": [{"type": "sentiment", "label": "neg"}]})


def classifier_rules_of(rule: object) -> list[ClassifierRule]:
    from qa_pipeline.rubric.rules import walk

    return [r for r in walk(rule) if isinstance(r, ClassifierRule)]  # type: ignore[arg-type]


def test_evidence_names_what_the_model_said() -> None:
    from qa_pipeline.rubric.explain import Explainer
    from tests.rubric.conftest import fatal_forbid_rubric

    classifier = {
        "type": "classifier", "model": "m", "labels": ["yes"], "speaker": "agent", "name": "模型判定",
        "label_names": {"yes": "是"},
    }  # fmt: skip
    rubric = fatal_forbid_rubric(classifier)
    models = RubricModels({"m": _Keyword("规定")}, classifier_rules(rubric))
    c = conv(("agent", "规定就是这样"))
    (preds,) = models.predict([c])
    item = Scorecard(rubric).evaluate(c, preds)["banned"]
    assert item.verdict == "fail" and item.evidence[0].rule.endswith("#是")
    assert Explainer(rubric).note(rubric.items[0], item.evidence[0]) == "模型判定（是）"


def test_turns_without_words_are_not_read_by_models() -> None:
    c = conv(("agent", "……"), ("agent", "😊"), ("agent", ""), ("agent", "好的"))
    assert model_inputs(c, rule(speaker="agent")) == [None, None, None, "好的"]


def test_a_sure_hit_beside_a_review_only_one_keeps_the_fail() -> None:
    from tests.rubric.conftest import fatal_forbid_rubric

    banned = {"type": "any", "rules": [
        {"type": "keywords", "any": ["爱买不买"], "speaker": "agent"},
        {"type": "classifier", "model": "m", "labels": ["yes"], "min_prob": 0.05, "speaker": "agent",
         "review": True},
    ]}  # fmt: skip
    rubric = fatal_forbid_rubric(banned, review_below=0.62)
    models = RubricModels({"m": _Keyword("规定")}, classifier_rules(rubric))
    c = conv(("agent", "规定就是这样"), ("agent", "爱买不买"))
    (preds,) = models.predict([c])
    assert Scorecard(rubric).evaluate(c, preds)["banned"].verdict == "fail"  # the model's hit came first
    plain = {**banned["rules"][1], "review": False}  # type: ignore[dict-item]
    weak_model = fatal_forbid_rubric(plain, review_below=0.62)
    c2 = conv(("agent", "您好"))  # P(yes) = 0.1: above min_prob 0.05, below review_below
    (preds2,) = RubricModels({"m": _Keyword("规定")}, classifier_rules(weak_model)).predict([c2])
    assert Scorecard(weak_model).evaluate(c2, preds2)["banned"].verdict == "fail"  # no similarity score


def test_the_model_reads_only_turns_some_rule_of_its_key_can_look_at() -> None:
    """``last_turns`` / ``first_turns`` decide which turns are scored; rules sharing a key get the union."""
    c = conv(*[("agent", f"第{n}句 规定") for n in range(6)], ("customer", "好"))
    last = rule(speaker="agent", last_turns=2)
    first = rule(speaker="agent", first_turns=1)
    assert last.key == first.key
    preds = RubricModels({"m": _Keyword("规定")}, [last]).predict([c])[0][last.key]
    assert [p is not None for p in preds] == [False, False, False, False, True, True, False]
    both = RubricModels({"m": _Keyword("规定")}, [last, first]).predict([c])[0][last.key]
    assert [p is not None for p in both] == [True, False, False, False, True, True, False]
    for r in (last, first):  # each rule's hits are those it had with every turn scored
        every = RubricModels({"m": _Keyword("规定")}, [rule(speaker="agent")]).predict([c])[0]
        assert r.find(MatchContext(conv=c, model_preds={r.key: both})) == r.find(
            MatchContext(conv=c, model_preds={r.key: every[r.key]})
        )


def test_the_rubric_stage_version_names_the_models_it_reads() -> None:
    """Retraining a rubric model changes verdicts: the stage's version (part of the store's result key)
    must change with it."""
    from qa_pipeline.stages.rubric import RubricStage

    rubric = Rubric.model_validate(
        {
            "id": "r",
            "version": "1",
            "items": [
                {"id": "x", "points": 100, "check": {"type": "require", "rule": rule(speaker="agent")}}
            ],
        }
    )
    old, new = _Keyword("好"), _Keyword("好")
    new.version = "kw-retrained"
    rules = classifier_rules(rubric)
    versions = [RubricStage(Scorecard(rubric), RubricModels({"m": m}, rules)).version for m in (old, new)]
    assert versions[0] != versions[1]
    assert versions[0].startswith(Scorecard(rubric).version) and versions[1].endswith("m=kw-retrained")


class _Counting(_Keyword):
    """The keyword model, remembering every text it was asked about."""

    def __init__(self, word: str) -> None:
        super().__init__(word)
        self.read: list[str] = []

    def _forward(self, texts: list[str]) -> Probs:
        self.read.extend(texts)
        return super()._forward(texts)


def _replies_rubric(follows: bool) -> Rubric:
    """An item like objection_handling: each customer 太贵 must be answered within two agent turns by a
    reply the model calls 'yes'; with ``follows`` the model reads only those two agent turns."""
    scope = {"follows": "pushback", "follows_within": 2} if follows else {}
    return Rubric.model_validate(
        {
            "id": "r",
            "version": "1",
            "rules": {"pushback": {"type": "keywords", "any": ["太贵"], "speaker": "customer"}},
            "items": [
                {
                    "id": "handled",
                    "points": 100,
                    "check": {
                        "type": "each",
                        "trigger": {"type": "ref", "ref": "pushback"},
                        "expect": rule(speaker="agent", **scope),
                        "window": "next_agent_turns_2",
                    },
                }
            ],
        }
    )


def test_a_model_that_follows_a_rule_reads_only_the_turns_after_its_hits_with_the_same_verdicts() -> None:
    c = conv(
        ("agent", "您好，有什么可以帮您"),
        ("customer", "太贵了"),
        ("agent", "嗯"),
        ("agent", "可以给您换个便宜的"),
        ("agent", "还有别的吗"),
        ("customer", "好的"),
        ("agent", "再见"),
    )
    verdicts = []
    for follows in (False, True):
        rubric = _replies_rubric(follows)
        model = _Counting("便宜")
        models = RubricModels({"m": model}, classifier_rules(rubric), rubric.rules)
        items = Scorecard(rubric).evaluate(c, models.predict([c])[0])
        verdicts.append(items["handled"].verdict)
        read = sorted(model.read)
    assert verdicts == ["pass", "pass"]
    assert read == sorted(["嗯", "可以给您换个便宜的"])  # the two agent turns after 太贵, not the others


def test_follows_within_counts_the_rules_own_speakers_turns() -> None:
    rubric = _replies_rubric(follows=True)
    expect = rubric.items[0].check.expect  # type: ignore[union-attr]
    c = conv(("customer", "太贵了"), ("agent", "一"), ("customer", "嗯"), ("agent", "二"), ("agent", "三"))
    ctx = MatchContext(conv=c, named=dict(rubric.rules))
    assert following_turns(ctx, expect) == [False, True, False, True, False]
    assert [follows_hit(ctx, i, expect) for i in range(5)] == [False, True, False, True, False]


def test_a_rule_cannot_follow_a_rule_that_reads_a_following_model() -> None:
    chained = {
        "id": "r",
        "version": "1",
        "rules": {
            "first": {"type": "classifier", "model": "a", "labels": ["yes"], "follows": "second"},
            "second": {"type": "classifier", "model": "b", "labels": ["yes"], "follows": "third"},
            "third": {"type": "keywords", "any": ["贵"]},
        },
        "items": [
            {"id": "x", "points": 100, "check": {"type": "require", "rule": {"type": "ref", "ref": "first"}}}
        ],
    }
    with pytest.raises(ValueError, match="itself follows"):
        Rubric.model_validate(chained)
    chained["rules"] = {"first": {"type": "classifier", "model": "a", "labels": ["yes"], "follows": "nope"}}
    with pytest.raises(ValueError, match="unknown named rule 'nope'"):
        Rubric.model_validate(chained)


def test_named_rules_in_a_loop_are_refused_when_the_rubric_loads() -> None:
    """R after S with S following R recursed without end at scoring time (code review, stop 26)."""
    looped = {
        "id": "r",
        "version": "1",
        "rules": {
            "r": {"type": "keywords", "any": ["好"], "after": "s"},
            "s": {"type": "keywords", "any": ["贵"], "follows": "r"},
        },
        "items": [
            {"id": "x", "points": 100, "check": {"type": "require", "rule": {"type": "ref", "ref": "r"}}}
        ],
    }
    with pytest.raises(ValueError, match=r"loop: (r -> s -> r|s -> r -> s)"):
        Rubric.model_validate(looped)
    looped["rules"] = {"r": {"type": "any", "rules": [{"type": "ref", "ref": "r"}]}}
    with pytest.raises(ValueError, match="loop: r -> r"):
        Rubric.model_validate(looped)


def test_follows_within_without_follows_is_refused() -> None:
    with pytest.raises(ValueError, match="follows_within is set without follows"):
        rule(follows_within=2)


def test_a_key_shared_with_a_rule_without_follows_is_read_on_every_turn() -> None:
    rubric = _replies_rubric(follows=True)
    plain = rule(speaker="agent")  # the same model input as the item's rule, on every agent turn
    model = _Counting("便宜")
    models = RubricModels({"m": model}, [*classifier_rules(rubric), plain], rubric.rules)
    models.predict(
        [conv(("agent", "您好"), ("customer", "太贵了"), ("agent", "便宜的有"), ("agent", "再见"))]
    )
    assert sorted(model.read) == sorted(["您好", "便宜的有", "再见"])


class _Random(TextClassifier):
    """Debug model: probabilities drawn from a hash of the text (every cut-off gets crossed somewhere)."""

    def __init__(self, name: str, labels: list[str]) -> None:
        self.labels, self.version, self.name = labels, "random", name

    def _forward(self, texts: list[str]) -> Probs:
        rows = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(f"{self.name}|{t}".encode()).digest()[:8], "big")
            rows.append(np.random.default_rng(seed).dirichlet([0.3] * len(self.labels)))
        return np.array(rows)


def _without_follows(node: object) -> object:
    if isinstance(node, dict):
        return {k: _without_follows(v) for k, v in node.items() if k not in ("follows", "follows_within")}
    if isinstance(node, list):
        return [_without_follows(v) for v in node]
    return node


def test_the_default_rubrics_follows_scopes_change_no_verdict() -> None:
    """The handling and empathy models run only after `objection_possible` / `mood_leans_negative`: those
    must hit wherever the scoped rules are read. With models that say anything, scoring with and without
    the scopes must agree; an edit that breaks the superset (an objection branch without the model's
    gate) fails here."""
    raw = yaml.safe_load(Settings().rubric.read_text(encoding="utf-8"))
    scoped, plain = parse_rubric(raw), parse_rubric(_without_follows(raw))
    labels: dict[str, set[str]] = {}
    for r in classifier_rules(scoped):
        labels.setdefault(r.model, set()).update(r.labels)
    models = {m: _Random(m, [*sorted(names), "none"]) for m, names in labels.items()}
    rows = [
        json.loads(line) for p in sorted(TUNING.glob("*.jsonl")) for line in p.read_text("utf-8").splitlines()
    ]
    convs = [
        Conversation(id=r["id"], channel=r["channel"], turns=[Turn(**t) for t in r["turns"]])  # type: ignore[arg-type]
        for r in rows[:80]
    ]
    with_scopes = RubricModels(models, classifier_rules(scoped), scoped.rules).predict(convs)
    everywhere = RubricModels(models, classifier_rules(plain)).predict(convs)
    assert sum(p is not None for c in with_scopes for ps in c.values() for p in ps) < sum(
        p is not None for c in everywhere for ps in c.values() for p in ps
    )
    for conv_, a, b in zip(convs, with_scopes, everywhere, strict=True):
        ia, ib = Scorecard(scoped).evaluate(conv_, a), Scorecard(plain).evaluate(conv_, b)
        assert {k: (v.verdict, v.evidence) for k, v in ia.items()} == {
            k: (v.verdict, v.evidence) for k, v in ib.items()
        }, conv_.id
