"""report_models refuses bad arguments with exit code 2 and a message, before loading anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import report_models


def test_unknown_task_or_missing_folder_is_refused(
    shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert report_models.main(["nosuch=models/emotion", "--data-dir", str(shared_data)]) == 2
    assert report_models.main(["emotion=models/no-such-folder", "--data-dir", str(shared_data)]) == 2
    assert "expected task=folder" in caplog.text


def test_missing_data_folder_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert report_models.main(["--data-dir", str(tmp_path / "absent")]) == 2
    assert "not found" in caplog.text
