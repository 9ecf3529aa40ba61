"""Keras's published ImageNet files and the backbone layers a base must hold."""

from __future__ import annotations

from typing import Any

import pytest

from tinymlaas.training import catalog, pretrained
from tinymlaas.training.pretrained import NoPretrainedWeights, imagenet_file


def test_the_file_is_keras_own_for_the_alpha_at_the_nearest_size() -> None:
    v1 = imagenet_file("mobilenet-v1", 0.25, 96, 96)
    assert v1.filename == "mobilenet_2_5_128_tf_no_top.h5"
    assert v1.url == (
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
        "mobilenet_2_5_128_tf_no_top.h5"
    )
    v2 = imagenet_file("mobilenet-v2", 0.35, 96, 96)
    assert v2.filename == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert v2.url.startswith(
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
    )
    # (200 + 150) / 2 = 175 is nearer 160 than 192; 176 is a tie, which takes the larger
    assert imagenet_file("mobilenet-v1", 0.5, 200, 150).filename == "mobilenet_5_0_160_tf_no_top.h5"
    assert imagenet_file("mobilenet-v1", 0.5, 176, 176).size == 192
    assert imagenet_file("mobilenet-v2", 0.35, 320, 320).size == 224
    assert imagenet_file("mobilenet-v1", 0.5, 32, 32).size == 128


@pytest.mark.parametrize(
    ("architecture", "alpha", "words"),
    [
        ("mobilenet-v1", 0.1, "publishes α 0.25, 0.5, 0.75, 1 "),
        ("mobilenet-v2", 0.05, "publishes α 0.35, 0.5, 0.75, 1, 1.3, 1.4 "),
        ("cnn-small", 1.0, "exist for mobilenet-v1, mobilenet-v2"),
    ],
)
def test_an_alpha_keras_did_not_publish_is_refused_naming_the_ones_it_did(
    architecture: str, alpha: float, words: str
) -> None:
    with pytest.raises(NoPretrainedWeights, match="no ImageNet weights") as raised:
        imagenet_file(architecture, alpha, 96, 96)
    assert words in str(raised.value)


def test_the_cache_lists_only_published_file_names(tmp_path: Any) -> None:
    (tmp_path / "mobilenet_2_5_128_tf_no_top.h5").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert pretrained.cached_filenames(tmp_path) == ["mobilenet_2_5_128_tf_no_top.h5"]
    assert pretrained.published_file("mobilenet_2_5_128_tf_no_top.h5") == imagenet_file(
        "mobilenet-v1", 0.25, 128, 128
    )
    assert pretrained.published_file("notes.txt") is None


def _weighted_layers(model: Any) -> dict[str, list[tuple[int, ...]]]:
    return {
        layer.name: [tuple(weight.shape) for weight in layer.weights]
        for layer in model.layers
        if layer.weights
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("architecture", "alphas"),
    [
        ("mobilenet-v1", sorted({*pretrained.IMAGENET_ALPHAS["mobilenet-v1"], 0.1, 0.2})),
        ("mobilenet-v2", sorted({*pretrained.IMAGENET_ALPHAS["mobilenet-v2"], 0.05, 0.1})),
    ],
)
def test_the_backbone_layers_are_keras_applications_own(
    architecture: str, alphas: list[float]
) -> None:
    import keras

    application = {
        "mobilenet-v1": keras.applications.MobileNet,
        "mobilenet-v2": keras.applications.MobileNetV2,
    }[architecture]
    for alpha in alphas:
        model = application(input_shape=(32, 32, 3), alpha=alpha, include_top=False, weights=None)
        expected = pretrained.backbone_layers(architecture, alpha, 3)
        assert _weighted_layers(model) == expected, alpha
        keras.backend.clear_session()


@pytest.mark.slow
@pytest.mark.parametrize("architecture", sorted(catalog.ARCHITECTURES))
def test_our_models_carry_the_backbone_under_keras_names(architecture: str) -> None:
    from tinymlaas.training.architectures import build_model

    spec = catalog.ARCHITECTURES[architecture]
    for alpha in spec.alphas:
        model = build_model(architecture, alpha, (32, 32, 1), 3)
        found = _weighted_layers(model)
        assert list(found) == [*pretrained.backbone_layers(architecture, alpha, 1), "classifier"]
        assert all(
            found[name] == shapes
            for name, shapes in pretrained.backbone_layers(architecture, alpha, 1).items()
        )


@pytest.mark.slow
def test_files_keras_writes_are_read_by_layer_name(tmp_path: Any) -> None:
    """What users upload: `model.save("base.h5")` (a full model) and the weights alone in
    Keras's HDF5 layout (what Keras 2's save_weights wrote and the ImageNet files are)."""
    import h5py
    import keras
    import numpy as np
    from keras.src.legacy.saving import legacy_h5_format

    from tinymlaas.training import weights_file

    model = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    model.save(tmp_path / "base.h5")
    with h5py.File(tmp_path / "weights.h5", "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)
    for name in ("base.h5", "weights.h5"):
        layers = weights_file.read_layers(tmp_path / name)
        found = weights_file.identify(weights_file.shapes_of(layers))
        assert (found.architecture, found.alpha, found.channels) == ("mobilenet-v2", 0.35, 3)
        assert found.parameter_count == model.count_params()
        np.testing.assert_array_equal(
            layers["block_16_project_BN"][3],
            model.get_layer("block_16_project_BN").moving_variance.numpy(),
        )
