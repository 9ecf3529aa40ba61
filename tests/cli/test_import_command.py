"""tinymlaas models import: a model trained elsewhere, then compiled from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import Cli
from support.factories import pattern_dataset_zip
from support.imported_models import CLASSES, train_importable_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]


def test_import_a_tflite_then_compile_it(
    logged_in: Cli, local_worker: None, tmp_path: Path
) -> None:
    model_file = tmp_path / "wake.tflite"
    model_file.write_bytes(train_importable_model().tflite_bytes)
    archive = tmp_path / "patterns.zip"
    archive.write_bytes(pattern_dataset_zip(per_class=6))
    logged_in.ok("datasets", "import", str(archive), "--name", "patterns")
    (dataset,) = json.loads(logged_in.ok("datasets", "list", "--json"))["items"]

    output = logged_in.ok(
        "models", "import", str(model_file), "--classes", ",".join(CLASSES),
        "--dataset", str(dataset["id"]),
    )  # fmt: skip

    assert "wake" in output
    assert "16×16 grayscale" in output
    assert "DEPTHWISE_CONV_2D" in output
    (model,) = json.loads(logged_in.ok("models", "list", "--json"))
    assert (model["source"], model["status"], model["classes"]) == (
        "imported",
        "succeeded",
        CLASSES,
    )
    compiled = logged_in.ok("compile", str(model["id"]), "--board", "nano33ble")
    assert "succeeded" in compiled

    refused = logged_in("models", "import", str(model_file), "--classes", "a,b")
    assert refused.exit_code == 1
    assert "the model has 3 outputs (output shape [1, 3]) but 2 class names" in refused.output
