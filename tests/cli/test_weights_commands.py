"""tinymlaas weights import|list|upload|bases|delete and train --weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import Cli, cells
from support.factories import pattern_dataset_zip
from support.weights import backbone_arrays, weights_bytes, write_weights

V1_FILE = "mobilenet_2_5_128_tf_no_top.h5"


@pytest.fixture(autouse=True)
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DOWNLOAD", "false")
    return folder


def test_an_administrator_imports_imagenet_weights_into_the_cache(
    runner: Cli, tmp_path: Path, weights_dir: Path
) -> None:
    downloaded = tmp_path / V1_FILE
    write_weights(downloaded, backbone_arrays("mobilenet-v1", 0.25))
    output = runner.ok("weights", "import", str(downloaded))
    assert "mobilenet-v1 α0.25, ImageNet at 128 px" in output
    assert (weights_dir / V1_FILE).read_bytes() == downloaded.read_bytes()
    assert cells(runner.ok("weights", "list"))[0][:4] == [V1_FILE, "mobilenet-v1", "0.25", "128"]

    renamed = tmp_path / "v2.h5"
    renamed.write_bytes(weights_bytes("mobilenet-v2", 0.35))
    refused = runner("weights", "import", str(renamed))
    assert refused.exit_code == 2
    assert "give --architecture, --alpha and --size" in refused.output
    runner.ok(
        "weights", "import", str(renamed),
        "--architecture", "mobilenet-v2", "--alpha", "0.35", "--size", "96",
    )  # fmt: skip
    listed = json.loads(runner.ok("weights", "list", "--json"))
    assert [entry["filename"] for entry in listed] == [
        V1_FILE,
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5",
    ]

    wrong = tmp_path / "mobilenet_5_0_128_tf_no_top.h5"
    wrong.write_bytes(weights_bytes("mobilenet-v1", 0.25))  # α0.25 under α0.5's name
    refused = runner("weights", "import", str(wrong))
    assert refused.exit_code == 1
    assert "not the mobilenet-v1 α0.5 backbone" in refused.output
    assert not (weights_dir / wrong.name).exists()


@pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)
def test_a_user_uploads_a_base_and_trains_from_it(
    logged_in: Cli, tmp_path: Path, weights_dir: Path
) -> None:
    archive = tmp_path / "patterns.zip"
    archive.write_bytes(pattern_dataset_zip(per_class=4))
    logged_in.ok("datasets", "import", str(archive), "--name", "patterns")
    (dataset,) = json.loads(logged_in.ok("datasets", "list", "--json"))["items"]
    train = ["train", "--dataset", str(dataset["id"]), "--architecture", "mobilenet-v1",
             "--alpha", "0.25", "--width", "32", "--height", "32", "--no-watch"]  # fmt: skip

    refused = logged_in(*train, "--weights", "imagenet")
    assert refused.exit_code != 0
    assert f"tinymlaas weights import {V1_FILE}" in refused.output.replace("\n", " ")

    base_file = tmp_path / "mine.h5"
    base_file.write_bytes(weights_bytes("mobilenet-v1", 0.25, channels=1))
    output = logged_in.ok("weights", "upload", str(base_file), "--name", "my base")
    assert "'my base' (id" in output
    assert "mobilenet-v1 α0.25, 1 input channel(s)" in output
    (base,) = json.loads(logged_in.ok("weights", "bases", "--json"))
    logged_in.ok(*train, "--weights", str(base["id"]))
    (model,) = json.loads(logged_in.ok("models", "list", "--json"))
    assert model["config"]["weights"] == base["id"]
    logged_in.ok("weights", "delete", str(base["id"]), "--yes")
    assert "No bases yet" in logged_in.ok("weights", "bases")
