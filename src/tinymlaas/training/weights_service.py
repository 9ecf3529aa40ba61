"""Pretrained starting weights: which a request may use, and users' uploaded base models.

Flushes; the caller commits. A training request naming weights that are not there is refused
here, with what to do about it, so a user never waits for a job that would train from random
weights or fail; the worker checks again (the cache can change between request and job).
"""

from __future__ import annotations

import io
from pathlib import PurePath
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinymlaas.blobs import BlobStore
from tinymlaas.config import Settings
from tinymlaas.contracts import TrainingConfig
from tinymlaas.db.pagination import paginate
from tinymlaas.errors import BadRequest, Conflict, NotFound, TooLarge
from tinymlaas.models import BaseWeights, User
from tinymlaas.training import pretrained, weights_file
from tinymlaas.training.schemas import ImagenetStatus


def imagenet_status(
    settings: Settings, architecture: str, alpha: float, width: int, height: int
) -> ImagenetStatus:
    """The ImageNet file this configuration would start from, and whether it can be had."""
    try:
        file = pretrained.imagenet_file(architecture, alpha, width, height)
    except pretrained.NoPretrainedWeights as exc:
        return ImagenetStatus(available=False, problem=str(exc))
    cached = pretrained.cached_path(settings.resolved_weights_dir, file) is not None
    problem = None
    if not cached and not settings.weights_download:
        problem = (
            f"the ImageNet weights for {architecture} α{file.alpha:g} ({file.filename}) are not"
            " in the server's weights cache and downloads are off: an administrator downloads"
            f" {file.url} and runs `tinymlaas weights import {file.filename}` on the server"
        )
    return ImagenetStatus(
        available=problem is None,
        cached=cached,
        filename=file.filename,
        url=file.url,
        size=file.size,
        problem=problem,
    )


def check_weights(
    session: Session, owner: User, settings: Settings, config: TrainingConfig
) -> None:
    """Refuse a request whose starting weights cannot be had or do not fit its model."""
    if config.weights == "none":
        return
    if config.weights == "imagenet":
        status = imagenet_status(
            settings, config.architecture, config.alpha, config.input_width, config.input_height
        )
        if status.problem:
            raise BadRequest(status.problem)
        return
    base = get_base(session, owner, config.weights)
    if (base.architecture, base.alpha) != (config.architecture, config.alpha):
        raise BadRequest(
            f"base weights {base.id} ('{base.name}') are a {base.architecture}"
            f" α{base.alpha:g} backbone; train {base.architecture} with alpha {base.alpha:g}"
            " to start from them"
        )
    if base.channels == 1 and config.channels == 3:
        raise BadRequest(
            f"base weights {base.id} ('{base.name}') take grayscale input; they cannot start an"
            " RGB model (use color_mode 'grayscale')"
        )


def get_base(session: Session, owner: User, base_id: int) -> BaseWeights:
    base = session.scalar(
        select(BaseWeights).where(BaseWeights.id == base_id, BaseWeights.owner_id == owner.id)
    )
    if base is None:
        raise NotFound(f"base weights {base_id} not found (see GET /weights)")
    return base


def list_bases(
    session: Session, owner: User, offset: int, limit: int
) -> tuple[list[BaseWeights], int]:
    query = select(BaseWeights).where(BaseWeights.owner_id == owner.id)
    return paginate(session, query.order_by(BaseWeights.id.desc()), offset, limit)


def upload_base(
    session: Session,
    blobs: BlobStore,
    owner: User,
    name: str | None,
    filename: str,
    file: BinaryIO,
    settings: Settings,
) -> BaseWeights:
    """Vet an uploaded Keras HDF5 file completely, then store it and its row."""
    limit = settings.max_weights_upload_bytes
    data = file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(
            f"the weights file is over the limit of {limit} bytes"
            " (TINYMLAAS_MAX_WEIGHTS_UPLOAD_BYTES)"
        )
    try:
        backbone = weights_file.identify(
            weights_file.shapes_of(weights_file.read_layers(io.BytesIO(data)))
        )
    except weights_file.UnsuitableWeights as exc:
        raise BadRequest(f"'{filename}': {exc}") from exc
    chosen = (name or PurePath(filename).stem or "base weights")[:200]
    taken = select(BaseWeights.id).where(
        BaseWeights.owner_id == owner.id, BaseWeights.name == chosen
    )
    if session.scalar(taken) is not None:
        raise Conflict(f"you already have base weights named '{chosen}'")
    base = BaseWeights(
        owner_id=owner.id,
        name=chosen,
        filename=PurePath(filename).name[:255],
        size_bytes=len(data),
        sha256=blobs.put(data).sha256,
        architecture=backbone.architecture,
        alpha=backbone.alpha,
        channels=backbone.channels,
        layer_count=backbone.layer_count,
        parameter_count=backbone.parameter_count,
    )
    session.add(base)
    session.flush()
    return base


def delete_base(session: Session, blobs: BlobStore, base: BaseWeights) -> None:
    sha256 = base.sha256
    session.delete(base)
    session.flush()
    blobs.release([sha256])
