"""Dataset path rules: folders are labels, top-level train/validation/test folders are splits.

Paths are always relative, "/"-separated and canonical ("a/b"); "" is the dataset root.
Only normalize_folder and validate_name check their input; the other helpers are plain string
operations on paths those two have already accepted, cheap enough to call in loops.
"""

import re
import unicodedata
from collections.abc import Container

SPLIT_FOLDERS = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}
MAX_FOLDER_LENGTH = 512
MAX_NAME_LENGTH = 200

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_COPY_NUMBER = re.compile(r" \(\d+\)$")


class InvalidPath(ValueError):
    """A folder or file name that breaks the dataset path rules."""


def _check_characters(path: str, what: str) -> None:
    """Reject backslashes and control characters anywhere in a path or name."""
    if "\\" in path:
        raise InvalidPath(f"{what} {path!r} contains a backslash; use '/' to separate folders")
    # Category Cc covers NUL, C0/C1 controls and DEL: they corrupt logs, terminals and archives.
    if any(unicodedata.category(character) == "Cc" for character in path):
        raise InvalidPath(f"{what} {path!r} contains a control character")


def _check_component(component: str, path: str, what: str) -> None:
    """Check one "/"-free component of `path`."""
    if component == "":
        raise InvalidPath(f"{what} {path!r} has an empty component ('//')")
    if component in (".", ".."):
        raise InvalidPath(f"{what} {path!r} contains {component!r}, which is not allowed")
    if len(component) > MAX_NAME_LENGTH:
        raise InvalidPath(
            f"{what} {path!r} has a name of {len(component)} characters,"
            f" over the limit of {MAX_NAME_LENGTH}"
        )


def normalize_folder(path: str) -> str:
    """Return the canonical "a/b" form of a folder path, or raise InvalidPath."""
    _check_characters(path, "folder")
    # API callers may write "/cat" or "cat/"; one slash at either end is harmless, more is a typo.
    stripped = path.removeprefix("/").removesuffix("/")
    if stripped == "":
        return ""
    if _DRIVE_LETTER.match(stripped):
        raise InvalidPath(f"folder {path!r} starts with a drive letter")
    for component in stripped.split("/"):
        _check_component(component, path, "folder")
    if len(stripped) > MAX_FOLDER_LENGTH:
        raise InvalidPath(
            f"folder {path!r} is {len(stripped)} characters long,"
            f" over the limit of {MAX_FOLDER_LENGTH}"
        )
    return stripped


def validate_name(name: str) -> str:
    """Return `name` if it is a valid single file name, or raise InvalidPath."""
    if name == "":
        raise InvalidPath("a file name cannot be empty")
    _check_characters(name, "name")
    if "/" in name:
        raise InvalidPath(f"name {name!r} contains '/'; a file name cannot include a folder")
    _check_component(name, name, "name")
    return name


def join(folder: str, name: str) -> str:
    """Join a canonical folder and a valid name into a path ("" + "x.png" -> "x.png")."""
    return f"{folder}/{name}" if folder else name


def split_path(path: str) -> tuple[str, str]:
    """Split a file path into (folder, name): "a/b/x.png" -> ("a/b", "x.png")."""
    folder, _, name = path.rpartition("/")
    return folder, name


def classify(folder: str) -> tuple[str | None, str | None]:
    """Return (label, split) for images directly inside `folder`.

    Follows Keras `image_dataset_from_directory`: the label is the folder an image is directly
    in; a top-level train/validation/val/test folder names the split (matched case-sensitively).
    `folder` must be canonical.
    """
    if folder == "":
        return None, None
    components = folder.split("/")
    split = SPLIT_FOLDERS.get(components[0])
    if split is not None:
        components = components[1:]
    label = components[-1] if components else None
    return label, split


def ancestors(folder: str) -> list[str]:
    """Return every folder from the top down to `folder` itself: "a/b" -> ["a", "a/b"]."""
    if folder == "":
        return []
    components = folder.split("/")
    return ["/".join(components[: depth + 1]) for depth in range(len(components))]


def is_within(folder: str, parent: str) -> bool:
    """Return whether `folder` is `parent` or lies below it ("" contains everything)."""
    return parent == "" or folder == parent or folder.startswith(parent + "/")


def numbered_name(name: str, taken: Container[str]) -> str:
    """`name`, or the first free "stem (2).ext", "stem (3).ext"… as file managers number copies.

    A name that is already numbered counts on: "000 (2).jpg" becomes "000 (3).jpg", not
    "000 (2) (2).jpg".
    """
    if name not in taken:
        return name
    stem, dot, extension = name.rpartition(".")
    if not stem:  # no extension ("README") or a dot file (".hidden")
        stem, dot, extension = name, "", ""
    stem = _COPY_NUMBER.sub("", stem) or stem
    number = 2
    while True:
        suffix = f" ({number}){dot}{extension}"
        candidate = stem[: MAX_NAME_LENGTH - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        number += 1
