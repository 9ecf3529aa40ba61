"""The rules of training requests, at the service (no HTTP, no TensorFlow), on every backend."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tinymlaas.auth.service import create_user
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.config import Settings
from tinymlaas.contracts import TrainingConfig, TrainingInfo
from tinymlaas.datasets.service import create_dataset
from tinymlaas.errors import BadRequest, Conflict, NotFound, TinyMLaaSError
from tinymlaas.models import Dataset, Image, TrainedModel, User
from tinymlaas.training import service
from tinymlaas.training.schemas import ModelCreate, ModelRead

from support.factories import image_bytes

# Only weights 'none' here: the weights cache is never looked at.
SETTINGS = Settings()


@pytest.fixture
def owner(session: Session) -> User:
    return create_user(session, "trainer", "a-long-password")


def add_images(
    session: Session, dataset: Dataset, counts: dict[tuple[str, str | None], int]
) -> None:
    """`count` images labelled `label` in `split` (None: no split folder) for each entry."""
    blobs = DatabaseBlobStore(session)
    for (label, split), count in counts.items():
        folder = f"{split}/{label}" if split else label
        for index in range(count):
            blob = blobs.put(image_bytes(color=(index * 40 % 256, 10, 10)))
            session.add(
                Image(
                    dataset_id=dataset.id,
                    folder=folder,
                    name=f"{index}.png",
                    label=label,
                    split=split,
                    width=8,
                    height=8,
                    format="PNG",
                    size_bytes=blob.size_bytes,
                    sha256=blob.sha256,
                )
            )
    session.flush()


@pytest.fixture
def dataset(session: Session, owner: User) -> Dataset:
    """Two classes of three images each."""
    found = create_dataset(session, owner, "flowers")
    add_images(session, found, {("daisy", None): 3, ("rose", None): 3})
    return found


def request(dataset: Dataset, **fields: Any) -> ModelCreate:
    return ModelCreate.model_validate(
        {"name": "m", "dataset_id": dataset.id, "architecture": "cnn-small"} | fields
    )


def raises(error: type[TinyMLaaSError], status: int, message: str) -> Any:
    """pytest.raises for a service error that must carry `status` and match `message`."""
    assert error.status_code == status
    return pytest.raises(error, match=message)


def finished(session: Session, model: TrainedModel) -> TrainedModel:
    model.status = "succeeded"
    session.flush()
    return model


def test_a_request_fills_the_config_defaults_and_queues_a_job(
    session: Session, owner: User, dataset: Dataset
) -> None:
    model = service.create_model(session, owner, request(dataset), SETTINGS)
    session.expire_all()
    stored = session.get_one(TrainedModel, model.id)

    # new requests keep their best epoch; configs stored before the setting existed did not
    assert stored.config == TrainingConfig(
        architecture="cnn-small", alpha=1.0, restore_best_weights=True
    )
    assert (stored.config.learning_rate, stored.config.validation_split) == (0.001, 0.2)
    assert (stored.config.seed, stored.config.channels) == (1234, 1)
    assert stored.classes == ["daisy", "rose"]
    assert stored.status == "queued"
    assert stored.job_id is not None
    # The API shows the keys the rows have always held, the best-epoch settings and the weights.
    assert ModelRead.model_validate(stored).model_dump(mode="json")["config"] == {
        "architecture": "cnn-small",
        "alpha": 1.0,
        "input_width": 96,
        "input_height": 96,
        "color_mode": "grayscale",
        "epochs": 10,
        "batch_size": 32,
        "learning_rate": 0.001,
        "validation_split": 0.2,
        "augmentation": None,
        "seed": 1234,
        "restore_best_weights": True,
        "early_stopping_patience": None,
        "weights": "none",
    }


def test_given_settings_are_kept(session: Session, owner: User, dataset: Dataset) -> None:
    given = request(
        dataset,
        alpha=0.5,
        input_width=32,
        input_height=24,
        color_mode="rgb",
        learning_rate=0.01,
        seed=0,
        augmentation={"flip": True},
    )
    config = service.create_model(session, owner, given, SETTINGS).config

    assert (config.alpha, config.input_width, config.input_height) == (0.5, 32, 24)
    assert (config.color_mode, config.channels) == ("rgb", 3)
    assert (config.learning_rate, config.seed) == (0.01, 0)
    assert config.augmentation is not None
    assert config.augmentation.flip


def test_an_unknown_dataset_is_404(session: Session, owner: User, dataset: Dataset) -> None:
    with raises(NotFound, 404, f"dataset {dataset.id + 1000} not found"):
        service.create_model(
            session, owner, request(dataset, dataset_id=dataset.id + 1000), SETTINGS
        )


def test_another_users_dataset_is_404(session: Session, dataset: Dataset) -> None:
    stranger = create_user(session, "stranger", "a-long-password")
    with raises(NotFound, 404, f"dataset {dataset.id} not found"):
        service.create_model(session, stranger, request(dataset), SETTINGS)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"architecture": "resnet"}, "architecture 'resnet' is unknown; known: "),
        ({"alpha": 0.3}, "alpha 0.3 is not offered for cnn-small; allowed: "),
        ({"input_width": 8}, "input_width 8 is too small for cnn-small: the minimum is 16"),
        ({"input_height": 640}, "input_height 640 is too large for cnn-small: the maximum is 320"),
    ],
)
def test_a_bad_architecture_setting_is_400(
    session: Session, owner: User, dataset: Dataset, fields: dict[str, Any], message: str
) -> None:
    with raises(BadRequest, 400, message):
        service.create_model(session, owner, request(dataset, **fields), SETTINGS)


def test_a_dataset_without_labelled_images_is_400(session: Session, owner: User) -> None:
    empty = create_dataset(session, owner, "empty")
    with raises(BadRequest, 400, "dataset 'empty' has no labelled images"):
        service.create_model(session, owner, request(empty), SETTINGS)


def test_a_dataset_with_one_class_is_400(session: Session, owner: User) -> None:
    single = create_dataset(session, owner, "single")
    add_images(session, single, {("daisy", None): 4})
    with raises(BadRequest, 400, r"needs at least 2 classes .* it has 1 \(daisy\)"):
        service.create_model(session, owner, request(single), SETTINGS)


def test_split_folders_without_train_images_are_400(session: Session, owner: User) -> None:
    split = create_dataset(session, owner, "split")
    add_images(session, split, {("daisy", "validation"): 2, ("rose", "test"): 2})
    with raises(BadRequest, 400, "split folders but no images in 'train'"):
        service.create_model(session, owner, request(split), SETTINGS)


def test_nothing_is_recorded_when_a_request_is_refused(
    session: Session, owner: User, dataset: Dataset
) -> None:
    with pytest.raises(BadRequest):
        service.create_model(session, owner, request(dataset, architecture="resnet"), SETTINGS)
    assert session.scalar(sa.select(sa.func.count()).select_from(TrainedModel)) == 0


def test_continuing_from_an_unknown_model_is_404(
    session: Session, owner: User, dataset: Dataset
) -> None:
    with raises(NotFound, 404, "model 999999 not found"):
        service.create_model(session, owner, request(dataset, base_model_id=999999), SETTINGS)


def test_continuing_from_an_unfinished_model_is_400(
    session: Session, owner: User, dataset: Dataset
) -> None:
    base = service.create_model(session, owner, request(dataset), SETTINGS)
    with raises(BadRequest, 400, f"base model {base.id} has not finished training \\(queued\\)"):
        service.create_model(session, owner, request(dataset, base_model_id=base.id), SETTINGS)


def test_a_continued_model_inherits_its_base_architecture_and_input(
    session: Session, owner: User, dataset: Dataset
) -> None:
    base = finished(
        session,
        service.create_model(
            session, owner, request(dataset, alpha=2.0, input_width=48, color_mode="rgb"), SETTINGS
        ),
    )
    continued = service.create_model(
        session, owner, request(dataset, base_model_id=base.id, epochs=3), SETTINGS
    )

    assert continued.base_model_id == base.id
    assert (continued.config.alpha, continued.config.input_width) == (2.0, 48)
    assert (continued.config.color_mode, continued.config.epochs) == ("rgb", 3)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"alpha": 0.5}, "alpha 0.5 differs from base model"),
        ({"input_width": 64}, "input_width 64 differs from base model"),
        ({"color_mode": "rgb"}, "color_mode 'rgb' differs from base model"),
        ({"architecture": "mobilenet-v1"}, "architecture 'mobilenet-v1' differs from base model"),
    ],
)
def test_continuing_with_other_fixed_settings_is_400(
    session: Session, owner: User, dataset: Dataset, fields: dict[str, Any], message: str
) -> None:
    base = finished(session, service.create_model(session, owner, request(dataset), SETTINGS))
    with raises(BadRequest, 400, message + f" {base.id}'s .*keeps its base's architecture"):
        service.create_model(
            session, owner, request(dataset, base_model_id=base.id, **fields), SETTINGS
        )


def test_a_config_stored_before_best_epochs_were_kept_loads_as_keeping_the_last() -> None:
    stored = {"architecture": "cnn-small", "alpha": 1.0, "epochs": 4}
    config = TrainingConfig.model_validate(stored)
    assert (config.restore_best_weights, config.early_stopping_patience) == (False, None)


def test_continuing_on_other_classes_is_400(
    session: Session, owner: User, dataset: Dataset
) -> None:
    base = finished(session, service.create_model(session, owner, request(dataset), SETTINGS))
    add_images(session, dataset, {("tulip", None): 2})
    with raises(BadRequest, 400, r"dataset classes \['daisy', 'rose', 'tulip'\] differ from base"):
        service.create_model(session, owner, request(dataset, base_model_id=base.id), SETTINGS)


def test_a_model_still_training_cannot_be_deleted(
    session: Session, owner: User, dataset: Dataset
) -> None:
    model = service.create_model(session, owner, request(dataset), SETTINGS)
    blobs = DatabaseBlobStore(session)
    with raises(Conflict, 409, f"model {model.id} is still training \\(job {model.job_id}\\)"):
        service.delete_model(session, blobs, model)
    finished(session, model)
    service.delete_model(session, blobs, model)
    assert session.get(TrainedModel, model.id) is None


def test_an_estimate_with_a_bad_setting_or_board_is_400() -> None:
    with raises(BadRequest, 400, "architecture 'resnet' is unknown"):
        service.estimate("resnet", None, 96, 96, "grayscale", 3, None)
    with raises(BadRequest, 400, "unknown board 'toaster'"):
        service.estimate("cnn-small", None, 96, 96, "grayscale", 3, "toaster")


def test_the_estimate_counts_rgb_as_three_channels() -> None:
    gray = service.estimate("cnn-small", None, 32, 32, "grayscale", 3, None)
    rgb = service.estimate("cnn-small", None, 32, 32, "rgb", 3, None)
    assert (gray.input_bytes, rgb.input_bytes) == (32 * 32, 32 * 32 * 3)


# --- the JSON columns -----------------------------------------------------------------------

# The same columns without validation: what an older release (or another tool) wrote.
RAW_MODELS = sa.table(
    "trained_models",
    sa.column("id", sa.Integer),
    sa.column("config", sa.JSON),
    sa.column("training_info", sa.JSON),
)


def test_rows_written_as_plain_json_load_as_the_contracts(
    session: Session, owner: User, dataset: Dataset
) -> None:
    model = service.create_model(session, owner, request(dataset), SETTINGS)
    raw_config = {
        "architecture": "mobilenet-v1",
        "alpha": 0.25,
        "input_width": 64,
        "input_height": 48,
        "color_mode": "rgb",
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 0.002,
        "validation_split": 0.3,
        "augmentation": {"flip": True, "rotation": 0.1, "zoom": 0.0, "brightness": 0.2},
        "seed": 7,
    }
    raw_info = {
        "dataset_content_sha256": "ab" * 32,
        "train_image_ids": [3, 1, 2],
        "validation_image_ids": [4],
        "test_image_ids": [],
        "validation_source": "seeded split of train",
        "image_counts": {"train": 3, "validation": 1, "test": 0},
        "versions": {"tensorflow": "2.19.0", "keras": "3.10.0"},
        "duration_seconds": 1.5,
    }
    session.execute(
        sa.update(RAW_MODELS)
        .where(RAW_MODELS.c.id == model.id)
        .values(config=raw_config, training_info=raw_info)
    )
    session.expire_all()
    stored = session.get_one(TrainedModel, model.id)

    assert isinstance(stored.config, TrainingConfig)
    # a row from before best epochs were kept loads as what that training did: the last epoch,
    # and from before pretrained weights existed, random ones
    kept_last = {"restore_best_weights": False, "early_stopping_patience": None}
    assert stored.config.model_dump(mode="json") == raw_config | kept_last | {"weights": "none"}
    assert stored.config.channels == 3
    assert isinstance(stored.training_info, TrainingInfo)
    assert stored.training_info.model_dump(mode="json") == raw_info
    assert stored.training_info.held_out_image_ids == (4,)


def test_the_contracts_are_stored_as_plain_json(
    session: Session, owner: User, dataset: Dataset
) -> None:
    model = service.create_model(session, owner, request(dataset), SETTINGS)
    model.training_info = TrainingInfo(train_image_ids=(5, 6), test_image_ids=(7,))
    session.flush()
    row = session.execute(sa.select(RAW_MODELS).where(RAW_MODELS.c.id == model.id)).one()

    assert row.config["learning_rate"] == 0.001
    assert row.config["augmentation"] is None
    assert row.training_info["train_image_ids"] == [5, 6]
    assert row.training_info["image_counts"] == {"train": 0, "validation": 0, "test": 0}


def test_an_invalid_config_is_refused_before_it_is_stored(
    session: Session, owner: User, dataset: Dataset
) -> None:
    model = service.create_model(session, owner, request(dataset), SETTINGS)
    model.config = {"architecture": "cnn-small"}  # type: ignore[assignment]
    with pytest.raises(sa.exc.StatementError) as caught:
        session.flush()
    assert isinstance(caught.value.orig, ValidationError)
    assert "alpha" in str(caught.value.orig)
