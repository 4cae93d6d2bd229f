"""The notebooks run top to bottom in a fresh kernel (nbclient) with CI parameters and show what they should.

Parameters are injected papermill-style: a cell tagged ``injected-parameters`` right after the cell tagged
``parameters``. Each notebook runs in ``tmp_path`` (it finds the project through the installed package).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from qa_pipeline.store import init_db

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[dev]')")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[dev]')")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT_S = 300
CI_SAMPLE = 300


def run_notebook(name: str, cwd: Path, **params: Any) -> Any:
    """Execute ``notebooks/<name>`` with ``params`` injected; a cell that raises fails the test."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell("\n".join(f"{key} = {value!r}" for key, value in params.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, cell)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def text_of(cells: list[Any]) -> str:
    """Printed text and the plain-text form of displayed values."""
    parts: list[str] = []
    for cell in cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out:
                parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


def tagged(nb: Any, tag: str) -> str:
    return text_of([c for c in nb.cells if tag in c.metadata.get("tags", [])])


def images(nb: Any) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def errors(nb: Any) -> list[Any]:
    return [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def test_committed_notebooks_have_no_outputs() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} has outputs"
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path.name


@pytest.mark.slow
@pytest.mark.data
def test_model_evaluation_scores_the_sentiment_model(tmp_path: Path, shared_data: Path) -> None:
    nb = run_notebook("model_evaluation.ipynb", tmp_path, SAMPLE=CI_SAMPLE, DATA_DIR=str(shared_data))
    printed = text_of(nb.cells)
    found = re.search(rf"^sentiment on chnsenticorp_dev \(n={CI_SAMPLE}\): accuracy (0\.\d+)", printed, re.M)
    assert found, printed[-2000:]
    assert float(found.group(1)) > 0.8  # 0.885 on the whole dev file (metadata: dev_binary_acc)
    summary = tagged(nb, "summary")
    assert all(name in summary for name in ("chnsenticorp_dev", "cped_valid", "dialogues_customer"))
    pairs = re.findall(r"^\S+ on \S+ \(n=\d+\): accuracy", printed, re.M)
    assert images(nb) == len(pairs)  # one figure per model and evaluation set
    assert "test_binary_acc" not in printed  # the test-set figure is never shown
    assert not errors(nb)


@pytest.mark.slow
def test_model_evaluation_stops_cleanly_without_data(tmp_path: Path) -> None:
    nb = run_notebook("model_evaluation.ipynb", tmp_path, SAMPLE=CI_SAMPLE, DATA_DIR=str(tmp_path / "absent"))
    assert f"shared data not found at {tmp_path / 'absent'}" in text_of(nb.cells)
    assert "no model was evaluated" in tagged(nb, "summary")
    assert images(nb) == 0 and not errors(nb)


@pytest.mark.slow
def test_agent_kpi_on_the_examples(tmp_path: Path) -> None:
    nb = run_notebook("agent_kpi.ipynb", tmp_path)
    printed = text_of(nb.cells)
    assert "audited 10 conversations" in printed
    db = re.search(r"10 conversations in sqlite:///(\S+)", printed)
    assert db, printed[-2000:]
    assert not Path(db.group(1)).exists()  # the demo database is removed at the end
    agents = tagged(nb, "agent-table")
    assert all(agent in agents for agent in ("K101", "K102", "K201", "K202"))
    assert re.search(r"K202\s+T2\s+3\s", agents)  # ex02, ex06 and the chat web0312-007
    assert all(team in tagged(nb, "team-table") for team in ("T1", "T2"))
    assert "forbidden_phrase" in tagged(nb, "item-table")
    flagged = tagged(nb, "flagged-table")
    assert "1 flagged conversation" in flagged and "ex02" in flagged and "ex01" not in flagged
    assert images(nb) == 2 and not errors(nb)


@pytest.mark.slow
def test_agent_kpi_reads_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    init_db(url).dispose()
    nb = run_notebook("agent_kpi.ipynb", tmp_path, DATABASE_URL=url)
    assert "0 conversations in sqlite" in text_of(nb.cells)
    assert "0 flagged conversation" in tagged(nb, "flagged-table")
    assert not errors(nb)


# -- the helper module, without a kernel --------------------------------------------------------


@pytest.fixture(scope="module")
def nbutil() -> ModuleType:
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("notebooks_nbutil", NOTEBOOKS / "nbutil.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def _scored(nbutil: ModuleType, gold: list[str], pred: list[str], conf: list[float]) -> Any:
    from training.datasets import Example

    rows = [Example(f"t{i}", g, "a" if i % 2 else "b") for i, g in enumerate(gold)]
    return nbutil.Scored("m", "v1", "d", rows, ["neg", "pos"], pred, np.array(conf), ["neg", "pos"])


def test_reliability_bins_give_the_ece(nbutil: ModuleType) -> None:
    r = _scored(nbutil, ["pos", "neg", "pos", "neg"], ["pos", "pos", "pos", "neg"], [0.95, 0.9, 0.55, 0.7])
    table = nbutil.reliability(r.confidence, r.correct, 15)
    filled = table[table["n"] > 0]
    ece = float((filled["n"] / 4 * (filled["accuracy"] - filled["confidence"]).abs()).sum())
    assert ece == pytest.approx(r.ece(15)) and ece > 0
    assert table["n"].sum() == 4 and len(table) == 15


def test_worst_errors_and_errors_by_source(nbutil: ModuleType) -> None:
    r = _scored(nbutil, ["pos", "neg", "pos", "neg"], ["neg", "pos", "pos", "pos"], [0.6, 0.9, 0.8, 0.7])
    assert list(nbutil.worst_errors(r, 2)["confidence"]) == [0.9, 0.7]
    by_source = nbutil.errors_by_source([r]).set_index("source")
    assert by_source.loc["a", "errors"] == 2 and by_source.loc["b", "errors"] == 1
    assert r.accuracy == 0.25
