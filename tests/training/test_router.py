"""Training requests: everything wrong is refused before anything is queued."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.factories import image_bytes, pattern_dataset_zip, zip_bytes

MODELS = "/api/v1/models"


def import_dataset(client: TestClient, data: bytes, name: str = "patterns") -> int:
    response = client.post(
        "/api/v1/datasets/import",
        files={"file": (f"{name}.zip", data, "application/zip")},
        data={"name": name},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def request(dataset_id: int, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "m",
        "dataset_id": dataset_id,
        "architecture": "cnn-small",
        "input_width": 16,
        "input_height": 16,
        "epochs": 1,
        "batch_size": 8,
    }
    return body | changes


def test_architectures_are_listed_with_footprints(client: TestClient) -> None:
    architectures = {a["id"]: a for a in client.get("/api/v1/architectures").json()}
    assert {"cnn-small", "mobilenet-v1", "mobilenet-v2"} <= set(architectures)
    assert architectures["mobilenet-v1"]["alphas"] == [0.1, 0.2, 0.25, 0.5]
    assert architectures["mobilenet-v2"]["alphas"] == [0.05, 0.1, 0.35]
    footprint = architectures["mobilenet-v2"]["footprints"]["0.35"]
    assert footprint["tflite_bytes"] > 100_000
    assert footprint["arena_bytes"] > 50_000


def test_estimate_says_whether_an_architecture_fits_a_board(client: TestClient) -> None:
    url = "/api/v1/architectures/mobilenet-v2/estimate"
    small = client.get(
        "/api/v1/architectures/mobilenet-v1/estimate", params={"alpha": 0.1, "board": "nano33ble"}
    ).json()
    big = client.get(
        url,
        params={
            "alpha": 0.35,
            "input_width": 224,
            "input_height": 224,
            "color_mode": "rgb",
            "board": "nano33ble",
        },
    ).json()
    assert small["fits"] is True
    assert big["fits"] is False
    assert big["ram_estimate_bytes"] > small["ram_estimate_bytes"]
    unknown = client.get(url, params={"board": "toaster"})
    assert unknown.status_code == 400
    assert "nano33ble" in unknown.json()["detail"]


def test_bad_requests_are_refused_before_queueing(client: TestClient) -> None:
    dataset_id = import_dataset(client, pattern_dataset_zip(per_class=3))
    one_class = import_dataset(
        client,
        zip_bytes({"cat/1.png": image_bytes(), "cat/2.png": image_bytes(color=(1, 2, 3))}),
        name="one-class",
    )
    empty = client.post("/api/v1/datasets", json={"name": "empty"}).json()["id"]
    unlabelled = import_dataset(client, zip_bytes({"a.png": image_bytes()}), name="flat")
    cases = [
        (request(9999), 404, "dataset 9999 not found"),
        (request(dataset_id, architecture="resnet"), 400, "known: cnn-small, mobilenet-v1"),
        (request(dataset_id, architecture="mobilenet-v1", alpha=0.3), 400, "allowed: 0.1, 0.2"),
        (request(dataset_id, architecture="mobilenet-v2", input_width=16), 400, "minimum is 32"),
        (request(one_class), 400, "at least 2 classes"),
        (request(empty), 400, "no labelled images"),
        (request(unlabelled), 400, "no labelled images"),
        (request(dataset_id, base_model_id=4242), 404, "model 4242 not found"),
        (request(dataset_id, color_mode="sepia"), 422, ""),
        (request(dataset_id, epochs=0), 422, ""),
    ]
    for body, status, message in cases:
        response = client.post(MODELS, json=body)
        assert response.status_code == status, (body, response.text)
        assert message in str(response.json()["detail"])
    assert client.get("/api/v1/jobs").json()["total"] == 0
    assert client.get(MODELS).json()["total"] == 0


def test_a_queued_training_can_be_cancelled_and_deleted(client: TestClient) -> None:
    dataset_id = import_dataset(client, pattern_dataset_zip(per_class=3))
    accepted = client.post(MODELS, json=request(dataset_id))
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "queued"
    model = client.get(f"{MODELS}/{body['id']}").json()
    assert model["classes"] == ["bright", "dark", "left"]
    assert model["config"]["alpha"] == 1.0  # the catalog default was recorded
    assert client.delete(f"{MODELS}/{body['id']}").status_code == 409  # still queued

    queued = client.get("/api/v1/jobs", params={"status": "queued"}).json()
    assert [job["id"] for job in queued["items"]] == [body["job_id"]]
    assert queued["items"][0]["owner"] == "admin"
    cancelled = client.post(f"/api/v1/jobs/{body['job_id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert client.get("/api/v1/jobs", params={"status": "queued"}).json()["total"] == 0
    listed = client.get("/api/v1/jobs", params={"status": "cancelled"}).json()["items"]
    assert [(job["id"], job["status"]) for job in listed] == [(body["job_id"], "cancelled")]
    assert client.get(f"{MODELS}/{body['id']}").json()["status"] == "cancelled"
    assert client.post(f"/api/v1/jobs/{body['job_id']}/cancel").status_code == 409
    assert client.delete(f"{MODELS}/{body['id']}").status_code == 204
    assert client.get(f"{MODELS}/{body['id']}").status_code == 404


def test_other_users_cannot_see_models_or_jobs(client: TestClient, make_user_client) -> None:  # type: ignore[no-untyped-def]
    dataset_id = import_dataset(client, pattern_dataset_zip(per_class=3))
    body = client.post(MODELS, json=request(dataset_id)).json()
    mallory = make_user_client("mallory")
    assert mallory.get(f"{MODELS}/{body['id']}").status_code == 404
    assert mallory.get(f"/api/v1/jobs/{body['job_id']}").status_code == 404
    assert mallory.post(f"/api/v1/jobs/{body['job_id']}/cancel").status_code == 404
    assert mallory.get("/api/v1/jobs").json()["total"] == 0
    # nor train on someone else's dataset
    assert mallory.post(MODELS, json=request(dataset_id)).status_code == 404


def succeed(client: TestClient, model_id: int) -> None:
    """Mark a queued model as trained (its weights are not needed to queue a continuation)."""
    from tinymlaas.models import TrainedModel

    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        session.get_one(TrainedModel, model_id).status = "succeeded"
        session.commit()


def test_a_continued_model_takes_architecture_and_input_from_its_base(
    client: TestClient,
) -> None:
    dataset_id = import_dataset(client, pattern_dataset_zip(per_class=3))
    base = client.post(MODELS, json=request(dataset_id, alpha=0.5, color_mode="rgb")).json()
    succeed(client, base["id"])
    # what the continue form sends: its fixed fields are disabled, so the browser leaves them out
    body = {"name": "more", "dataset_id": dataset_id, "base_model_id": base["id"], "epochs": 2}

    response = client.post(MODELS, json=body)

    assert response.status_code == 202, response.text
    config = client.get(f"{MODELS}/{response.json()['id']}").json()["config"]
    assert (config["architecture"], config["alpha"]) == ("cnn-small", 0.5)
    assert (config["input_width"], config["input_height"], config["color_mode"]) == (16, 16, "rgb")
    assert config["epochs"] == 2
    differing = client.post(MODELS, json=body | {"alpha": 1.0})
    assert differing.status_code == 400
    assert f"alpha 1.0 differs from base model {base['id']}'s 0.5" in differing.json()["detail"]


def test_a_new_model_without_an_architecture_is_refused(client: TestClient) -> None:
    dataset_id = import_dataset(client, pattern_dataset_zip(per_class=3))
    body = request(dataset_id)
    del body["architecture"]

    response = client.post(MODELS, json=body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("architecture is required to train a new model")
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_restore_best_weights_is_on_unless_turned_off(client: TestClient) -> None:
    dataset_id = import_dataset(client, pattern_dataset_zip(per_class=3))
    default_id = client.post(MODELS, json=request(dataset_id)).json()["id"]
    body = request(dataset_id, restore_best_weights=False, early_stopping_patience=3)
    chosen_id = client.post(MODELS, json=body).json()["id"]
    default = client.get(f"{MODELS}/{default_id}").json()
    chosen = client.get(f"{MODELS}/{chosen_id}").json()
    assert default["config"]["restore_best_weights"] is True
    assert default["config"]["early_stopping_patience"] is None
    assert chosen["config"]["restore_best_weights"] is False
    assert chosen["config"]["early_stopping_patience"] == 3
    refused = client.post(MODELS, json=request(dataset_id, early_stopping_patience=0))
    assert refused.status_code == 422
