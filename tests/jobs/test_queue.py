"""A job reaches the executor only once the transaction that created its rows has committed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tinymlaas.db.session import make_session_factory, transaction
from tinymlaas.enums import JobKind
from tinymlaas.jobs import service
from tinymlaas.jobs.queue import submit_on_commit
from tinymlaas.models import Job, TrainedModel, User

from conftest import Database
from support.factories import pattern_dataset_zip


class RecordingExecutor:
    """Records each job it is given, as a new session of the database sees it then."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.submitted: list[tuple[int, str | None, str | None]] = []

    def submit(self, job_id: int) -> None:
        with self.database.factory() as session:
            job = session.get(Job, job_id)
            model = session.scalar(select(TrainedModel).where(TrainedModel.job_id == job_id))
            self.submitted.append(
                (job_id, job.status if job else None, model.status if model else None)
            )


@pytest.fixture
def executor(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> RecordingExecutor:
    """This test's app hands its jobs to a RecordingExecutor."""
    recorder = RecordingExecutor(database)
    monkeypatch.setattr(client.app.state.executor, "submit", recorder.submit)  # type: ignore[attr-defined]
    return recorder


def training_request(client: TestClient) -> dict[str, object]:
    dataset = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=4), "application/zip")},
        data={"name": "patterns"},
    )
    assert dataset.status_code == 201, dataset.text
    return {
        "name": "m",
        "dataset_id": dataset.json()["id"],
        "architecture": "cnn-small",
        "input_width": 16,
        "input_height": 16,
        "epochs": 1,
        "batch_size": 8,
    }


def counts(database: Database) -> tuple[int, int]:
    with database.factory() as session:
        jobs = session.scalar(select(func.count()).select_from(Job))
        models = session.scalar(select(func.count()).select_from(TrainedModel))
        return jobs or 0, models or 0


def test_a_job_is_submitted_once_its_rows_are_committed(
    client: TestClient, executor: RecordingExecutor
) -> None:
    response = client.post("/api/v1/models", json=training_request(client))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    # Another session already read the job and its model when the executor got the id.
    assert executor.submitted == [(accepted["job_id"], "queued", "queued")]


def test_a_request_whose_commit_fails_submits_nothing(
    client: TestClient, database: Database, executor: RecordingExecutor
) -> None:
    body = training_request(client)

    def lose_the_database(session: Session) -> None:
        raise OperationalError("COMMIT", None, Exception("server closed the connection"))

    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    event.listen(factory, "before_commit", lose_the_database)
    try:
        response = client.post("/api/v1/models", json=body)
    finally:
        event.remove(factory, "before_commit", lose_the_database)
    assert response.status_code == 503, response.text
    assert executor.submitted == []
    assert counts(database) == (0, 0)  # rolled back: there is nothing a worker could run

    # The next request is not haunted by the job that was never stored.
    response = client.post("/api/v1/models", json=body)
    assert response.status_code == 202, response.text
    assert executor.submitted == [(response.json()["job_id"], "queued", "queued")]


def test_only_committed_jobs_that_workers_run_are_submitted(
    client: TestClient, database: Database
) -> None:
    factory = make_session_factory(database.engine)
    submitted: list[int] = []

    class Recorder:
        def submit(self, job_id: int) -> None:
            submitted.append(job_id)

    submit_on_commit(factory, Recorder())
    with factory() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        service.create_job(session, admin, JobKind.train)
        session.rollback()
        assert submitted == []
        admin = session.get_one(User, admin.id)
        install = service.create_job(session, admin, JobKind.install).id
        compile_ = service.create_job(session, admin, JobKind.compile).id
        assert submitted == []  # flushed, not committed
        session.commit()
    assert submitted == [compile_]  # install jobs are the bridges' hub's, not the executor's
    with transaction(factory) as session:
        stored = session.execute(select(Job.id, Job.kind).order_by(Job.id)).all()
    assert [tuple(row) for row in stored] == [(install, "install"), (compile_, "compile")]
