"""The Python API: search, retrain and export in a few lines, silent unless logging is on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nascore


def test_search_train_export_in_a_few_lines(tmp_path: Path, caplog, capsys) -> None:
    found = nascore.search(
        "darts", "darts", out=tmp_path / "search", epochs=1, channels=4, layers=3,
        batch_size=16, config={"data": {"subset": 64}, "strategy": {"valid_batches": 1}},
    )
    assert found.text.startswith("Genotype(") and found.run_dir == tmp_path / "search"
    assert found.architecture.space == "darts" and "valid_acc" in found.metrics
    assert json.loads((found.run_dir / "result.json").read_text())["text"] == found.text

    with caplog.at_level(logging.INFO, logger="nascore"):
        trained = nascore.train(found, out=tmp_path / "train", epochs=1, channels=4, layers=3,
                                batch_size=32, config={"data": {"subset": 64}})
    assert 0.0 <= trained.test_acc <= 1.0 and trained.run_dir == tmp_path / "train"
    assert "multiply-adds" in caplog.text  # console lines go through the nascore logger

    files = nascore.export(trained, "onnx", out=tmp_path / "model.onnx")
    assert files == [tmp_path / "model.onnx"] and files[0].stat().st_size > 0
    assert capsys.readouterr().err == ""  # nothing printed when logging is not configured


def test_published_architectures_and_constraints(tmp_path: Path) -> None:
    found = nascore.search(
        "random", "nb201", estimator="nb201", out=tmp_path / "s", constraints=["params:..1M"],
        config={"strategy": {"queries": 5}},
    )
    check = found.constraints["params:..1e+06"]
    assert check["satisfied"] and check["value"] <= 1e6
    trained = nascore.train("darts_v2", out=tmp_path / "t", epochs=1, channels=4, layers=3,
                            batch_size=32, config={"data": {"subset": 64}})
    assert trained.result["text"].startswith("Genotype(")
