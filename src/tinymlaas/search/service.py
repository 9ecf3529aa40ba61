"""Rules of model searches: starting one, reading it. Flushes; the caller commits.

A search is a job no worker runs (kind `search`, running from the start): its candidates'
trainings and the final compile are ordinary jobs, and search/coordinator.py advances it when
they end. Cancelling its job stops them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sqlalchemy.orm import Session

from tinymlaas.config import Settings
from tinymlaas.contracts import ColorMode, Weights
from tinymlaas.datasets import service as datasets
from tinymlaas.db.base import utcnow
from tinymlaas.enums import CandidateStatus, JobKind, JobStatus
from tinymlaas.errors import BadRequest, NotFound
from tinymlaas.hardware.boards import Board, board_or_error
from tinymlaas.jobs import repository as job_rows
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Job, Search, SearchCandidate, User
from tinymlaas.search import halving, repository, space
from tinymlaas.search.schemas import CandidateRead, SearchCreate, SearchRead, SearchSummary
from tinymlaas.training import catalog, pretrained, weights_service
from tinymlaas.training import repository as training_rows
from tinymlaas.training import service as training
from tinymlaas.training.schemas import ModelCreate


def get_search(session: Session, owner: User, search_id: int) -> Search:
    search = repository.get_owned(session, owner.id, search_id)
    if search is None:
        raise NotFound(f"search {search_id} not found")
    return search


def create_search(
    session: Session, owner: User, request: SearchCreate, settings: Settings
) -> Search:
    """Assess the whole space against the board, record every candidate (the dropped ones with
    their reason) and queue the first rung's trainings."""
    board = board_or_error(request.board)
    dataset = datasets.get_dataset(session, owner, request.dataset_id)
    counts = training_rows.label_counts(session, dataset.id)
    classes = sum(1 for count in counts.values() if count > 0)
    if classes < 2:
        raise BadRequest(
            f"dataset '{dataset.name}' needs at least 2 classes with images to search;"
            f" it has {classes}"
        )
    usable = _weights_usable(session, owner, request.weights_options())
    assessed = _assess_space(request, board, classes, usable)
    _require_imagenet(settings, assessed)
    kept, left_out = space.sample(assessed, request.max_candidates)
    if not kept:
        smallest = min(assessed, key=lambda item: item.ram_bytes)
        raise BadRequest(
            f"no candidate fits {board.name} with a {request.ram_margin:.0%} margin; the"
            f" smallest, {smallest.spec.label}: {smallest.drop_reason}"
        )
    job = jobs.create_job(session, owner, JobKind.search)
    _mark_running(session, job, len(kept))
    search = Search(
        owner_id=owner.id,
        name=request.name,
        dataset_id=dataset.id,
        job_id=job.id,
        board=board.id,
        engine=request.engine,
        objective=request.objective,
        request=request.model_dump(mode="json"),
        classes=classes,
        phase="training",
        rung=0,
        rung_started_at=utcnow(),
        revision=0,
        message=job.message,
    )
    session.add(search)
    session.flush()
    for item in assessed:
        if item.drop_reason is not None:
            _add_candidate(session, search, item, CandidateStatus.dropped, item.drop_reason)
    for item in left_out:
        reason = f"fits, but not among the {request.max_candidates} sampled (max_candidates)"
        _add_candidate(session, search, item, CandidateStatus.dropped, reason)
    for item in kept:
        candidate = _add_candidate(session, search, item, CandidateStatus.training, None)
        start_training(session, owner, search, candidate, request.first_epochs, settings)
    session.flush()
    return search


Usable = Callable[[space.CandidateSpec, Weights], bool]


def _weights_usable(session: Session, owner: User, options: list[Weights]) -> Usable:
    """Which candidates each requested starting weights can start; an unknown base is 404."""
    bases = {w: weights_service.get_base(session, owner, w) for w in options if isinstance(w, int)}

    def usable(spec: space.CandidateSpec, weights: Weights) -> bool:
        if weights == "imagenet":
            try:
                pretrained.imagenet_file(
                    spec.architecture, spec.alpha, spec.input_size, spec.input_size
                )
            except pretrained.NoPretrainedWeights:
                return False
            return True
        if isinstance(weights, int):
            base = bases[weights]
            same = base.architecture == spec.architecture and math.isclose(base.alpha, spec.alpha)
            return same and not (base.channels == 1 and spec.color_mode == "rgb")
        return True

    return usable


def _assess_space(
    request: SearchCreate, board: Board, classes: int, usable: Usable
) -> list[space.Assessment]:
    """Every candidate of the requested space, with whether (and why not) it fits the board."""
    try:
        specs = space.enumerate_space(
            request.architectures, request.input_sizes, request.color_modes
        )
    except catalog.InvalidTrainingConfig as exc:
        raise BadRequest(str(exc)) from exc
    if not specs:
        raise BadRequest("the space is empty: no input size is within the architectures' limits")
    options = request.weights_options()
    for weights in options:
        if weights != "none" and not any(usable(spec, weights) for spec in specs):
            raise BadRequest(_unusable(weights))
    specs = space.with_weights(specs, options, usable)
    return [
        space.assess(
            spec, board, request.engine, classes, request.ram_margin, request.max_latency_ms
        )
        for spec in specs
    ]


def _require_imagenet(settings: Settings, assessed: list[space.Assessment]) -> None:
    """Refuse the search, as training would, when a fitting candidate is to start from ImageNet
    weights that cannot be had (whether or not it is sampled into the first rung)."""
    for item in assessed:
        spec = item.spec
        if item.drop_reason is None and spec.weights == "imagenet":
            status = weights_service.imagenet_status(
                settings, spec.architecture, spec.alpha, spec.input_size, spec.input_size
            )
            if status.problem:
                raise BadRequest(status.problem)


def _unusable(weights: Weights) -> str:
    if weights == "imagenet":
        return (
            "weights 'imagenet' cannot start any candidate: Keras publishes ImageNet weights for"
            " MobileNet v1 and v2 only (include one in architectures, or use weights 'none')"
        )
    return (
        f"base weights {weights} cannot start any candidate: search the architecture and alpha"
        " of its backbone (see GET /weights), or use weights 'none'"
    )


def _mark_running(session: Session, job: Job, count: int) -> None:
    job.status = JobStatus.running
    job.started_at = utcnow()
    job.message = f"rung 0: training {count} candidate(s)"
    event = {"status": JobStatus.running, "message": job.message}
    job_rows.add_event(session, job.id, "state", event)


def _add_candidate(
    session: Session,
    search: Search,
    item: space.Assessment,
    status: CandidateStatus,
    reason: str | None,
) -> SearchCandidate:
    candidate = SearchCandidate(
        search_id=search.id,
        architecture=item.spec.architecture,
        alpha=item.spec.alpha,
        input_size=item.spec.input_size,
        color_mode=item.spec.color_mode,
        weights=str(item.spec.weights),
        status=status,
        reason=reason,
        ram_bytes=item.ram_bytes,
        flash_bytes=item.flash_bytes,
        macs=item.macs,
        latency_ms=item.latency_ms,
        rung=0,
        epochs_trained=0,
    )
    session.add(candidate)
    session.flush()
    return candidate


def start_training(
    session: Session,
    owner: User,
    search: Search,
    candidate: SearchCandidate,
    epochs: int,
    settings: Settings,
) -> None:
    """Queue the candidate's next training: a new model, or its last one continued."""
    request = SearchCreate.model_validate(search.request)
    spec = _spec(candidate)
    name = f"{search.name} · {spec.label} · rung {search.rung}"
    common = {"name": name[:200], "dataset_id": request.dataset_id, "epochs": epochs}
    if candidate.model_id is None:
        values = {
            **common,
            "architecture": spec.architecture,
            "alpha": spec.alpha,
            "input_width": spec.input_size,
            "input_height": spec.input_size,
            "color_mode": spec.color_mode,
            "batch_size": request.batch_size,
            "seed": request.seed,
            # Training refuses weights that cannot be had (weights_service.check_weights): the
            # search request fails with its message, before anything is queued.
            "weights": spec.weights,
        }
    else:
        values = {**common, "base_model_id": candidate.model_id, "batch_size": request.batch_size}
    model = training.create_model(session, owner, ModelCreate.model_validate(values), settings)
    candidate.training_model_id = model.id
    candidate.status = CandidateStatus.training
    candidate.rung = search.rung


def _spec(candidate: SearchCandidate) -> space.CandidateSpec:
    mode: ColorMode = "rgb" if candidate.color_mode == "rgb" else "grayscale"
    weights: Weights = "none"
    if candidate.weights == "imagenet":
        weights = "imagenet"
    elif candidate.weights.isdigit():
        weights = int(candidate.weights)
    return space.CandidateSpec(
        candidate.architecture, candidate.alpha, candidate.input_size, mode, weights
    )


def result_of(candidate: SearchCandidate) -> halving.Result:
    return halving.Result(
        id=candidate.id,
        accuracy=candidate.val_accuracy or 0.0,
        ram_bytes=candidate.measured_ram_bytes or candidate.ram_bytes,
        latency_ms=candidate.measured_latency_ms or candidate.latency_ms,
        macs=candidate.macs,
    )


def summary(search: Search, job: Job | None) -> SearchSummary:
    return SearchSummary(
        id=search.id,
        name=search.name,
        dataset_id=search.dataset_id,
        board=search.board,
        engine="c" if search.engine == "c" else "tflm",
        objective="accuracy_per_ms" if search.objective == "accuracy_per_ms" else "accuracy",
        job_id=search.job_id,
        status=job.status if job is not None else JobStatus.cancelled,
        phase=search.phase,
        rung=search.rung,
        message=job.message if job is not None else search.message,
        recommended_id=search.recommended_id,
        created_at=search.created_at,
    )


def list_summaries(session: Session, searches: list[Search]) -> list[SearchSummary]:
    found = repository.jobs_by_id(session, [s.job_id for s in searches if s.job_id is not None])
    return [summary(search, found.get(search.job_id or 0)) for search in searches]


def describe(session: Session, search: Search) -> SearchRead:
    """The search with every candidate, the Pareto front and the recommendation."""
    board = board_or_error(search.board)
    request = SearchCreate.model_validate(search.request)
    rows = repository.candidates(session, search.id)
    reads = [candidate_read(row) for row in rows]
    trained = [result_of(row) for row in rows if row.val_accuracy is not None]
    recommendation = next((read for read in reads if read.id == search.recommended_id), None)
    job = session.get(Job, search.job_id) if search.job_id is not None else None
    margin = request.ram_margin
    return SearchRead(
        **summary(search, job).model_dump(),
        request=search.request,
        board_ram_bytes=board.ram_bytes,
        board_flash_bytes=board.flash_bytes,
        ram_limit_bytes=int(board.ram_bytes * (1 - margin)),
        flash_limit_bytes=int(board.flash_bytes * (1 - margin)),
        latency_basis=latency_basis(board, request),
        candidates=reads,
        pareto_front=halving.pareto_front(trained),
        recommendation=recommendation,
    )


def latency_basis(board: Board, request: SearchCreate) -> str:
    if board.clock_mhz <= 0:
        return f"{board.name} has no fixed clock: candidates are compared by MACs"
    cycles = space.cycles_per_mac(board, request.engine)
    return space.LATENCY_BASIS.format(cycles=cycles, engine=request.engine)


def candidate_read(row: SearchCandidate) -> CandidateRead:
    return CandidateRead.model_validate(
        {**{key: getattr(row, key) for key in CandidateRead.model_fields if key != "label"},
         "label": _spec(row).label}
    )  # fmt: skip
