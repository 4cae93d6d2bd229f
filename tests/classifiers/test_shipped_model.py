"""The bundled models/sentiment artefact loads through the public loader and gets obvious cases right."""

from __future__ import annotations

import pytest

from qa_pipeline.classifiers import TextClassifier, load_classifier
from qa_pipeline.classifiers.metadata import read_metadata
from qa_pipeline.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped() -> TextClassifier:
    return load_classifier("sentiment", models_dir=Settings().models_dir)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("太失望了，再也不买了", "neg"),
        ("谢谢，问题解决了，非常满意", "pos"),
        ("我想查一下订单", "neu"),
        ("等了三天了还没到，到底怎么回事？", "neg"),
        ("我要投诉你们！", "neg"),
        ("好的，麻烦帮我改一下收货地址", "neu"),
    ],
)
def test_obvious_examples(shipped: TextClassifier, text: str, label: str) -> None:
    pred = shipped.predict([text])[0]
    assert pred.label == label, pred.probs


def test_metadata_describes_the_shipped_artefact(shipped: TextClassifier) -> None:
    meta = read_metadata(Settings().models_dir / "sentiment")
    assert shipped.version == meta.version
    assert meta.labels == ["neg", "neu", "pos"]
    assert meta.artefact_bytes < 20_000_000
    assert meta.data_files, "metadata must list the training files and their sha256"
    assert meta.metrics["dev_binary_acc"] > 0.85
