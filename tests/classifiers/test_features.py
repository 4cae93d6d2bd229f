from __future__ import annotations

import pickle
import random

import jieba

from qa_pipeline.classifiers.features import (
    _NUMBER,
    NUMBER_TOKEN,
    FeatureOptions,
    JiebaAnalyzer,
    build_features,
    drop_fit_only_state,
    model_text,
    normalise_text,
)
from qa_pipeline.text.numerals import unspaced


def test_normalise_text_half_width_lower_and_spaces() -> None:
    assert normalise_text("  ＡＢＣ，好 \t\n 的！ ") == "abc,好 的!"


def test_model_text_masks_digits_and_spoken_digit_runs() -> None:
    assert model_text("订单号12345，后四位三幺二八") == f"订单号{NUMBER_TOKEN},后四位{NUMBER_TOKEN}"
    # fewer than three numerals is ordinary text, not a number
    assert model_text("三天") == "三天"


def test_model_text_masks_numbers_masked_by_the_pii_stage_but_not_censored_words() -> None:
    assert model_text("手机号198****3166，卡号************2483") == "手机号0,卡号0"
    assert model_text("号码***********") == "号码0"
    assert model_text("真是***的服务") == "真是***的服务"


def test_model_text_quick_path_changes_nothing() -> None:
    """Texts without a digit, a "*" or three numerals in a row skip the number pattern, the others have
    it applied to each stretch of number characters: the same text as the pattern over the whole."""
    rng = random.Random(5)
    pool = "好的一二三四零幺两十百万*１２3٣ .,，:/-号码单〇七八九"
    for _ in range(60_000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 24)))
        assert model_text.__wrapped__(text) == _NUMBER.sub(NUMBER_TOKEN, unspaced(normalise_text(text))), text


def test_model_text_joins_words_a_recogniser_wrote_apart() -> None:
    """Word-by-word recogniser output reads like the same words written together; spaces that only part
    clauses stay."""
    assert model_text("这么 贵 啊 隔壁 那个 驾校 才 便宜") == model_text("这么贵啊隔壁那个驾校才便宜")
    assert model_text("喂 你好 我那个套餐这几天网速慢得很 刷个视频都刷不动") == (
        "喂 你好 我那个套餐这几天网速慢得很 刷个视频都刷不动"
    )


def test_analyzer_gives_unigrams_and_bigrams_without_spaces() -> None:
    grams = JiebaAnalyzer((1, 2))("太失望了 再也不买了")
    assert "失望" in grams
    assert " " not in grams
    unigrams = [g for g in grams if " " not in g]
    bigrams = [g for g in grams if " " in g]
    assert len(bigrams) == len(unigrams) - 1
    assert f"{unigrams[0]} {unigrams[1]}" in bigrams


def test_analyzer_uses_a_private_tokenizer_and_caches_tokens() -> None:
    from qa_pipeline.classifiers.features import model_tokens
    from qa_pipeline.text.jieba_main import main_tokenizer

    analyzer = JiebaAnalyzer()
    analyzer("你好")
    assert main_tokenizer() is not jieba.dt
    model_tokens.cache_clear()
    JiebaAnalyzer((1, 1))("我想查一下订单")
    JiebaAnalyzer((1, 2))("我想查一下订单")
    assert model_tokens.cache_info().hits == 1  # a second model reading the same turn reuses its tokens


def test_analyzer_pickles_only_its_ngram_range() -> None:
    analyzer = JiebaAnalyzer((1, 1))
    before = analyzer("我想查一下订单")
    blob = pickle.dumps(analyzer)
    assert len(blob) < 1_000  # no tokenizer in the pickle
    clone = pickle.loads(blob)
    assert clone("我想查一下订单") == before
    assert clone.ngram_range == (1, 1)


def test_feature_union_has_word_and_char_branches_and_drops_stop_words() -> None:
    features = build_features(FeatureOptions(min_df=1, max_df=0.6))
    matrix = features.fit_transform(["质量很好", "质量太差", "物流很快", "物流太慢"])
    assert matrix.shape[0] == 4
    word, char = (vec for _, vec in features.transformer_list)
    assert "质量" in word.vocabulary_
    assert "很" in char.vocabulary_
    assert char.sublinear_tf and word.sublinear_tf
    drop_fit_only_state(features)
    assert all(getattr(vec, "stop_words_", None) is None for _, vec in features.transformer_list)


def test_long_texts_stay_out_of_the_large_caches() -> None:
    """A turn over CACHED_CHARS must not sit in the 16,384-entry cache (a large conversation filled it
    with hundreds of MB): model_text keeps such texts in a small cache of its own (not seen here),
    model_tokens in none."""
    from qa_pipeline.classifiers.features import CACHED_CHARS, model_text, model_tokens

    model_text.cache_clear()
    model_tokens.cache_clear()
    short, long = "我想查一下订单", "我想查一下订单，" * (CACHED_CHARS // 8 + 1)
    assert len(long) > CACHED_CHARS
    for text in (short, long, short, long):
        assert model_text(text) == model_text.__wrapped__(text)
        assert model_tokens(text) == model_tokens.__wrapped__(text)
    assert model_text.cache_info().currsize == 1  # the short text only
    assert model_tokens.cache_info().currsize == 1
