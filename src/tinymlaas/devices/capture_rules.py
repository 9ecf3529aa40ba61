"""Rules of devices' capture rules. Flushes; the caller commits."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tinymlaas.compiling import repository as compiled_files
from tinymlaas.datasets import review_repository
from tinymlaas.datasets import service as datasets
from tinymlaas.db.base import utcnow
from tinymlaas.devices import review_counts
from tinymlaas.devices.capture_schemas import CaptureRuleRead, CaptureRuleWrite
from tinymlaas.devices.review_rules import Rule
from tinymlaas.errors import BadRequest, NotFound
from tinymlaas.models import CaptureRule, CompiledModel, Dataset, Device, ReviewItem, User


def rule_of(session: Session, device_id: int) -> CaptureRule | None:
    return session.scalar(select(CaptureRule).where(CaptureRule.device_id == device_id))


def get_rule(session: Session, device: Device) -> CaptureRule:
    rule = rule_of(session, device.id)
    if rule is None:
        raise NotFound(f"device {device.id} has no capture rule; PUT one first")
    return rule


def put_rule(
    session: Session, owner: User, device: Device, payload: CaptureRuleWrite
) -> CaptureRule:
    """Create or replace the device's rule; its dataset must be the user's."""
    if payload.below_score is None and payload.margin is None and payload.sample_per_hour is None:
        raise BadRequest(
            "a capture rule needs at least one of below_score, margin or sample_per_hour"
        )
    if payload.sample_per_hour is not None and payload.sample_per_hour > payload.max_per_hour:
        raise BadRequest(
            f"sample_per_hour {payload.sample_per_hour} is over max_per_hour"
            f" {payload.max_per_hour}: the hourly cap would cut the sample"
        )
    datasets.get_dataset(session, owner, payload.dataset_id)  # 404 unless it is the user's
    rule = rule_of(session, device.id)
    if rule is None:
        rule = CaptureRule(device_id=device.id)
        session.add(rule)
    for field, value in payload.model_dump().items():
        setattr(rule, field, value)
    rule.updated_at = utcnow()
    session.flush()
    return rule


def delete_rule(session: Session, device: Device) -> None:
    session.delete(get_rule(session, device))
    session.flush()


def as_rule(rule: CaptureRule) -> Rule:
    """The stored rule as the pure decision takes it."""
    return Rule(
        below_score=rule.below_score,
        margin=rule.margin,
        sample_per_hour=rule.sample_per_hour,
        max_per_hour=rule.max_per_hour,
        enabled=rule.enabled,
    )


def running_compiled_id(session: Session, device: Device) -> int | None:
    """The installed compiled model if the device runs it (its HELLO named its manifest)."""
    if device.installed_compiled_id is None:
        return None
    manifest = compiled_files.file(session, device.installed_compiled_id, "manifest.json")
    if manifest is None or manifest.sha256 != device.running_model_id:
        return None
    return device.installed_compiled_id


def describe(session: Session, rule: CaptureRule, queue_max: int) -> CaptureRuleRead:
    dataset = session.get_one(Dataset, rule.dataset_id)
    counts = review_counts.summaries(session, [rule.device_id], review_counts.now())
    return CaptureRuleRead(
        device_id=rule.device_id,
        dataset_id=rule.dataset_id,
        dataset_name=dataset.name,
        below_score=rule.below_score,
        margin=rule.margin,
        sample_per_hour=rule.sample_per_hour,
        max_per_hour=rule.max_per_hour,
        enabled=rule.enabled,
        kept_last_hour=counts[rule.device_id].this_hour.kept,
        counts=counts[rule.device_id],
        queued=review_repository.count_queued(session, rule.dataset_id),
        queue_max=queue_max,
        updated_at=rule.updated_at,
    )


def deployed_models(
    session: Session, owner_id: int, dataset_id: int
) -> list[tuple[Device, CompiledModel]]:
    """The models installed on devices that feed the dataset's review queue (by a capture rule
    or with frames waiting in it), the latest install first."""
    feeding = select(CaptureRule.device_id).where(CaptureRule.dataset_id == dataset_id)
    queued = select(ReviewItem.device_id).where(ReviewItem.dataset_id == dataset_id)
    query = (
        select(Device, CompiledModel)
        .join(CompiledModel, CompiledModel.id == Device.installed_compiled_id)
        .where(
            Device.owner_id == owner_id,
            CompiledModel.owner_id == owner_id,
            or_(Device.id.in_(feeding), Device.id.in_(queued)),
        )
        .order_by(Device.installed_at.desc(), Device.id)
    )
    return [(device, compiled) for device, compiled in session.execute(query)]
