"""Vocabularies defined once and shared by the tables, the API schemas, the CLI and the pages'
scripts: the states and kinds of jobs. Pure (no FastAPI, no SQLAlchemy), at the bottom of the
layers, so the tables and the light CLI install import it alike."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is; the rows a job produces (trained and compiled models) mirror it."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


# A job in one of these states never changes again.
FINISHED_STATUSES = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)
# Waiting for, or held by, whatever runs it.
ACTIVE_STATUSES = (JobStatus.queued, JobStatus.running)


class JobKind(StrEnum):
    train = "train"
    compile = "compile"
    install = "install"
    # Loading an imported .keras model in a worker to check and describe it.
    validate = "validate"
    # Testing a compiled model on a board: a worker prepares the images and reports, the API
    # process holding the device's bridge relays them to the board.
    device_test = "device_test"
    # Camera frames from a board into a dataset: run by the API process holding its bridge.
    capture = "capture"
    # A model search: no worker runs it; the API process advances it as its trainings end.
    search = "search"


# The kinds worker processes run (jobs/runner.py has their tasks); the API process holding the
# device's bridge runs an install.
WORKER_KINDS = (JobKind.train, JobKind.compile, JobKind.validate, JobKind.device_test)


class CandidateStatus(StrEnum):
    """Where one candidate of a model search is."""

    # Left out before training: it would not fit the board (or was not sampled).
    dropped = "dropped"
    training = "training"
    # Finished its rung; waits for the rung to end.
    trained = "trained"
    # Lost a rung to better candidates.
    eliminated = "eliminated"
    # Its training was stopped at the time budget or by a cancel.
    stopped = "stopped"
    failed = "failed"
    # Compiled for the board, measured and recommended.
    recommended = "recommended"
    # Compiled, but the measured RAM/flash did not fit with the margin.
    rejected = "rejected"
