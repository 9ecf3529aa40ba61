"""Files of an upload that are skipped instead of judged as images.

Operating-system clutter (`__MACOSX/`, `.DS_Store`, `._*` …) is skipped silently: a zip made on
a Mac has one `._` file per image, so listing them would drown the answer. Documentation that
comes with datasets (TensorFlow's flower_photos has a LICENSE.txt) is skipped and listed, so
the user knows it was not stored. A name with an image extension is always judged as an image.
"""

from dataclasses import dataclass
from pathlib import PurePosixPath

JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
JUNK_FOLDER = "__MACOSX"
JUNK_PREFIX = "._"
DOCUMENTATION = "documentation file, not an image"
DOCUMENTATION_EXTENSIONS = {".txt", ".md", ".csv", ".json", ".yaml", ".yml"}
DOCUMENTATION_PREFIXES = ("license", "licence", "readme")
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@dataclass(frozen=True)
class IgnoredEntry:
    """A file that was skipped on purpose (not stored), and why."""

    entry: str
    reason: str


def is_documentation(name: str) -> bool:
    """Whether a file name (no folder) is a well-known documentation file: README, LICENSE, *.md…"""
    lowered = name.lower()
    extension = PurePosixPath(lowered).suffix
    if extension in IMAGE_EXTENSIONS:
        return False
    return extension in DOCUMENTATION_EXTENSIONS or lowered.startswith(DOCUMENTATION_PREFIXES)


def is_junk(name: str) -> bool:
    """Return whether an entry is operating-system clutter to ignore silently."""
    components = name.removesuffix("/").split("/")
    last = components[-1]
    return JUNK_FOLDER in components or last in JUNK_NAMES or last.startswith(JUNK_PREFIX)
