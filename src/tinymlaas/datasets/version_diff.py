"""What a dataset version is made of, compared (pure): its fingerprint, counts and diffs.

A version is identified by its content: the sorted folders and (path, blob) rows. Two states
with the same fingerprint hold the same bytes at the same paths, hence the same labels and
splits (both follow from the folder), whatever the image ids or timestamps say.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

Label = str | None


@dataclass(frozen=True)
class Row:
    """One image of a dataset state: where it is and which bytes it holds."""

    image_id: int
    folder: str
    name: str
    label: Label
    split: str | None
    sha256: str
    size_bytes: int


def fingerprint(folders: Iterable[str], rows: Iterable[Row]) -> str:
    """sha256 over the sorted folders and (folder, name, blob) triples (NUL cannot occur in a
    path, so the fields cannot run into each other)."""
    digest = hashlib.sha256()
    for folder in sorted(folders):
        digest.update(b"D\0" + folder.encode() + b"\n")
    for folder, name, sha in sorted((row.folder, row.name, row.sha256) for row in rows):
        digest.update(b"F\0" + folder.encode() + b"\0" + name.encode() + b"\0" + sha.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def name_counts(values: Iterable[str | None]) -> list[dict[str, object]]:
    """[{name, count}] sorted by name, None (no label / no split) left out."""
    counts = Counter(value for value in values if value is not None)
    return [{"name": name, "count": count} for name, count in sorted(counts.items())]


@dataclass
class LabelChange:
    label: Label
    before: int = 0
    after: int = 0
    added: int = 0
    removed: int = 0
    relabelled_in: int = 0
    relabelled_out: int = 0


@dataclass
class Diff:
    added: int = 0
    removed: int = 0
    relabelled: int = 0
    unchanged: int = 0
    labels: list[LabelChange] = field(default_factory=list)
    # (from label, to label) → images whose blob moved between them
    relabels: dict[tuple[Label, Label], int] = field(default_factory=dict)


def _label_key(label: Label) -> tuple[bool, str]:
    return (label is None, label or "")


def diff(before: Iterable[tuple[str, Label]], after: Iterable[tuple[str, Label]]) -> Diff:
    """Compare two states given as (blob sha256, label) per image.

    An image whose bytes are in both states under the same label is unchanged; the same bytes
    under another label were relabelled; bytes only in `before` were removed, only in `after`
    added. Identical bytes held several times are matched one copy at a time.
    """
    old, new = Counter(before), Counter(after)
    result = Diff(unchanged=sum((old & new).values()))
    changes: dict[Label, LabelChange] = {}

    def change(label: Label) -> LabelChange:
        return changes.setdefault(label, LabelChange(label))

    for (_, label), count in old.items():
        change(label).before += count
    for (_, label), count in new.items():
        change(label).after += count
    came = _by_blob(new - old)
    for sha, sources in _by_blob(old - new).items():
        targets = came.pop(sha, [])
        for source, target in zip(sources, targets, strict=False):
            change(source).relabelled_out += 1
            change(target).relabelled_in += 1
            result.relabels[(source, target)] = result.relabels.get((source, target), 0) + 1
            result.relabelled += 1
        for source in sources[len(targets) :]:
            change(source).removed += 1
            result.removed += 1
        came[sha] = targets[len(sources) :]
    for targets in came.values():
        for target in targets:
            change(target).added += 1
            result.added += 1
    result.labels = [changes[label] for label in sorted(changes, key=_label_key)]
    return result


def _by_blob(counts: Counter[tuple[str, Label]]) -> dict[str, list[Label]]:
    """sha256 → its labels, one entry per copy, in label order."""
    labels: dict[str, list[Label]] = {}
    for (sha, label), count in counts.items():
        labels.setdefault(sha, []).extend([label] * count)
    return {sha: sorted(found, key=_label_key) for sha, found in labels.items()}
