from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import expected_calibration_error


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    conf = np.array([0.8] * 10)
    correct = np.array([1.0] * 8 + [0.0] * 2)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0)


def test_ece_weights_bins_by_size() -> None:
    conf = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([1.0, 1.0, 0.0, 0.0])
    # bin 0.95: |1 - 0.95| = 0.05; bin 0.55: |0 - 0.55| = 0.55; each half the weight
    assert expected_calibration_error(conf, correct) == pytest.approx(0.3)
