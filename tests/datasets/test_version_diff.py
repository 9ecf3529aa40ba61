"""Fingerprints and diffs of dataset versions (pure)."""

from __future__ import annotations

from tinymlaas.datasets.version_diff import Row, diff, fingerprint


def row(folder: str, name: str, sha: str, image_id: int = 1) -> Row:
    label = folder.rsplit("/", 1)[-1] or None
    return Row(image_id, folder, name, label, None, sha, 10)


def test_the_fingerprint_follows_paths_and_bytes_not_ids_or_order() -> None:
    rows = [row("cat", "1.png", "a" * 64, 1), row("dog", "2.png", "b" * 64, 2)]
    same = fingerprint(["cat", "dog"], rows)
    assert fingerprint(["dog", "cat"], [row("dog", "2.png", "b" * 64, 7), rows[0]]) == same
    assert fingerprint(["cat", "dog"], [rows[0], row("cat", "2.png", "b" * 64)]) != same  # moved
    assert fingerprint(["cat", "dog"], [rows[0], row("dog", "2.png", "c" * 64)]) != same  # bytes
    assert fingerprint(["cat", "dog", "empty"], rows) != same  # a new (empty) folder
    # fields cannot run into each other: "a/b" + "c" is not "a" + "b/c"
    assert fingerprint([], [row("a/b", "c", "s")]) != fingerprint([], [row("a", "b/c", "s")])


def test_added_removed_and_relabelled_are_counted_per_label() -> None:
    before = [("s1", "cat"), ("s2", "cat"), ("s3", "dog"), ("s4", "dog")]
    after = [("s1", "cat"), ("s2", "dog"), ("s3", "dog"), ("s5", "bird"), ("s6", None)]
    found = diff(before, after)
    assert (found.added, found.removed, found.relabelled, found.unchanged) == (2, 1, 1, 2)
    assert found.relabels == {("cat", "dog"): 1}
    by_label = {change.label: change for change in found.labels}
    assert [change.label for change in found.labels] == ["bird", "cat", "dog", None]
    cat, dog = by_label["cat"], by_label["dog"]
    assert (cat.before, cat.after, cat.relabelled_out, cat.removed) == (2, 1, 1, 0)
    assert (dog.before, dog.after, dog.relabelled_in, dog.removed) == (2, 2, 1, 1)
    assert (by_label["bird"].added, by_label[None].added) == (1, 1)
    for change in found.labels:  # every label's count adds up
        assert change.after == (
            change.before + change.added - change.removed
            + change.relabelled_in - change.relabelled_out
        )  # fmt: skip


def test_copies_of_the_same_bytes_are_matched_one_at_a_time() -> None:
    found = diff([("s", "cat"), ("s", "cat")], [("s", "cat"), ("s", "dog"), ("s", "dog")])
    assert (found.unchanged, found.relabelled, found.added, found.removed) == (1, 1, 1, 0)
    assert diff([], []).labels == []
