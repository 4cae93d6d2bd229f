"""A tiny real sentiment model for unit tests: a dozen sentences through the production save path."""

from __future__ import annotations

from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from qa_pipeline.classifiers.features import FeatureOptions, build_features
from qa_pipeline.classifiers.sklearn_model import ExportInfo, export_model

SENTENCES = [
    ("太失望了，再也不买了", "neg"),
    ("质量太差了，垃圾", "neg"),
    ("等了三天还没到，气死了", "neg"),
    ("服务态度恶劣，我要投诉", "neg"),
    ("我想查一下订单", "neu"),
    ("请问什么时候发货", "neu"),
    ("我的手机号是多少", "neu"),
    ("帮我改一下地址", "neu"),
    ("谢谢，问题解决了，非常满意", "pos"),
    ("太好了，非常感谢", "pos"),
    ("质量很好，很喜欢", "pos"),
    ("服务周到，满意", "pos"),
]

TINY_FEATURES = FeatureOptions(min_df=1, max_df=1.0, word_max_features=None, char_max_features=None)


def fit_tiny() -> Pipeline:
    model = Pipeline(
        [("features", build_features(TINY_FEATURES)), ("clf", LogisticRegression(C=10.0, max_iter=500))]
    )
    return model.fit([s for s, _ in SENTENCES], [label for _, label in SENTENCES])


def train_tiny_model(folder: Path) -> Path:
    """Fit and export the tiny model to ``folder``; returns the folder."""
    export_model(fit_tiny(), folder, ExportInfo(name="tiny", metrics={"train_size": len(SENTENCES)}))
    return folder
