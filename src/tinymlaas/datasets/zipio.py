"""Read an uploaded zip safely: judge the central directory, inflate bounded, never extract."""

import copy
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, BinaryIO, Self

from tinymlaas.datasets import paths
from tinymlaas.datasets.skipping import DOCUMENTATION, IgnoredEntry, is_documentation, is_junk

MAX_PROBLEMS = 100
# Below this size an entry cannot amplify into anything harmful, whatever its ratio.
RATIO_CHECK_MIN_BYTES = 2**20
# Deflate inflates in bounded steps; bzip2/lzma decompressors do not, so they could balloon.
SUPPORTED_COMPRESSION = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_READ_CHUNK = 2**20
_LOCAL_HEADER_MIN_BYTES = 30
_ENCRYPTED_FLAG = 0x1
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, zlib.error)


@dataclass(frozen=True)
class ZipLimits:
    """Bounds on an uploaded zip.

    `max_compression_ratio` (uncompressed / compressed) is checked only for entries larger than
    RATIO_CHECK_MIN_BYTES (1 MiB): small files may compress extremely well (a blank BMP) yet
    cannot amplify into much, while a large entry at over 100:1 is almost surely a zip bomb.
    Real PNG/JPEG entries compress about 1:1 and photographic BMPs a few times.
    """

    max_entries: int = 50_000
    max_entry_bytes: int = 50 * 2**20
    max_total_bytes: int = 4 * 2**30
    max_compression_ratio: float = 100.0


@dataclass(frozen=True)
class EntryProblem:
    """Why one entry (or, with entry "", the whole zip) was refused."""

    entry: str
    problem: str

    def __str__(self) -> str:
        return f"{self.entry!r}: {self.problem}" if self.entry else self.problem


def _summarize(problems: list[EntryProblem], total: int) -> str:
    """Return a one-line summary naming the first few problems."""
    shown = "; ".join(str(problem) for problem in problems[:3])
    if total == 1:
        return shown
    more = total - min(len(problems), 3)
    return f"{total} problems in the zip: {shown}" + (f"; and {more} more" if more else "")


class ZipRejected(ValueError):
    """The zip (or one entry being read) breaks the rules; `problems` lists why."""

    def __init__(self, problems: list[EntryProblem], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        super().__init__(_summarize(problems, self.total))


class _Problems:
    """Collects problems, keeping the first MAX_PROBLEMS and counting the rest."""

    def __init__(self) -> None:
        self.items: list[EntryProblem] = []
        self.total = 0

    def add(self, entry: str, problem: str) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(EntryProblem(entry, problem))


@dataclass(frozen=True)
class ZipFileEntry:
    """A file of the zip: its original entry name and its dataset path after wrapper stripping."""

    entry: str
    path: str
    folder: str
    name: str


@dataclass
class ZipPlan:
    """The accepted layout of a zip, and bounded reading of its files."""

    folders: list[str]
    files: list[ZipFileEntry]
    ignored: list[IgnoredEntry]
    _archive: zipfile.ZipFile = field(repr=False)
    _infos: dict[str, zipfile.ZipInfo] = field(repr=False)
    _limits: ZipLimits = field(repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    def read(self, file: ZipFileEntry) -> bytes:
        """Inflate one file, never more than its declared size plus one byte to catch a lie."""
        if self._closed:
            raise ValueError("the zip is closed")
        info = self._infos.get(file.path)
        if info is None:
            raise KeyError(f"{file.entry!r} is not a file of this zip")
        limit = min(info.file_size, self._limits.max_entry_bytes)
        # zipfile stops inflating at ZipInfo.file_size, so ask for one byte more than declared:
        # an entry that really holds more then shows up (or fails its CRC) instead of being
        # silently cut to a plausible length.
        probe = copy.copy(info)
        probe.file_size = limit + 1
        try:
            with self._archive.open(probe) as stream:
                data = _read_at_most(stream, limit + 1)
        except _READ_ERRORS as exc:
            raise ZipRejected([EntryProblem(file.entry, f"is damaged: {exc}")]) from exc
        if len(data) > limit:
            raise ZipRejected(
                [EntryProblem(file.entry, "holds more data than its header declares")]
            )
        if len(data) < info.file_size:
            raise ZipRejected(
                [EntryProblem(file.entry, "holds less data than its header declares")]
            )
        return data

    def close(self) -> None:
        """Close the archive (not the file object it reads from)."""
        self._closed = True
        self._archive.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    """Read until EOF or `size` bytes, in bounded chunks."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(_READ_CHUNK, size - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return bytes(buffer)


def _format_bytes(size: int) -> str:
    """Return a size as a user reads it: "50.0 MiB"."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _normalize_entry(info: zipfile.ZipInfo, name: str, is_folder: bool) -> str:
    """Return the canonical dataset path of an entry, or raise InvalidPath saying why."""
    # zipfile cuts names at a NUL; the original shows the trick.
    if "\x00" in info.orig_filename:
        raise paths.InvalidPath("the name contains a NUL character")
    if name.startswith("/"):
        raise paths.InvalidPath("absolute paths are not allowed")
    if _DRIVE_LETTER.match(name):
        raise paths.InvalidPath("paths starting with a drive letter are not allowed")
    relative = name.removesuffix("/") if is_folder else name
    if ".." in relative.split("/"):
        raise paths.InvalidPath("path traversal ('..') is not allowed")
    if is_folder:
        normalized = paths.normalize_folder(relative)
    else:
        folder, file_name = paths.split_path(relative)
        normalized = paths.join(paths.normalize_folder(folder), paths.validate_name(file_name))
    # normalize_folder forgives one slash at either end; inside a zip that means "a//b".
    if normalized != relative or normalized == "":
        raise paths.InvalidPath(f"path {relative!r} has an empty component")
    return normalized


def _check_attributes(info: zipfile.ZipInfo, entry: str, problems: _Problems) -> None:
    """Refuse symbolic links and encrypted entries."""
    if stat.S_ISLNK(info.external_attr >> 16):
        problems.add(entry, "symbolic links are not allowed")
    if info.flag_bits & _ENCRYPTED_FLAG:
        problems.add(entry, "encrypted entries are not supported")


def _check_file_size(info: zipfile.ZipInfo, limits: ZipLimits, problems: _Problems) -> None:
    """Refuse a file entry that is too big, too compressed or compressed with an unsafe method."""
    entry = info.filename
    if info.compress_type not in SUPPORTED_COMPRESSION:
        problems.add(
            entry,
            f"compression method {info.compress_type} is not supported (use deflate or none)",
        )
    if info.file_size > limits.max_entry_bytes:
        problems.add(
            entry,
            f"is {_format_bytes(info.file_size)} uncompressed,"
            f" over the per-file limit of {_format_bytes(limits.max_entry_bytes)}",
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > limits.max_compression_ratio:
        problems.add(
            entry,
            f"compression ratio {ratio:,.0f}:1 is over the limit of"
            f" {limits.max_compression_ratio:,.0f}:1 (possible zip bomb)",
        )


def _check_overlaps(infos: Iterable[zipfile.ZipInfo], problems: _Problems) -> None:
    """Refuse entries whose data overlaps the next entry (the overlapping-zip-bomb trick)."""
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for current, following in zip(ordered, ordered[1:], strict=False):
        data_end = current.header_offset + _LOCAL_HEADER_MIN_BYTES + current.compress_size
        if data_end > following.header_offset:
            problems.add(following.filename, f"overlaps the data of {current.filename!r}")


@dataclass
class _Layout:
    """Valid entries gathered from the central directory, before wrapper stripping."""

    files: list[tuple[zipfile.ZipInfo, str]] = field(default_factory=list)
    folders: set[str] = field(default_factory=set)
    ignored: list[IgnoredEntry] = field(default_factory=list)
    total_bytes: int = 0


def _gather(archive: zipfile.ZipFile, limits: ZipLimits, problems: _Problems) -> _Layout:
    """Check every entry, collecting problems, and return the valid files and folders."""
    layout = _Layout()
    file_entries: dict[str, str] = {}
    for info in archive.infolist():
        entry = info.filename
        # Treat backslashes as separators so "..\\x" and "C:\\x" are judged like "../x".
        name = entry.replace("\\", "/")
        if is_junk(name):
            continue
        is_folder = name.endswith("/")
        _check_attributes(info, entry, problems)
        if not is_folder:
            _check_file_size(info, limits, problems)
            layout.total_bytes += info.file_size
        try:
            path = _normalize_entry(info, name, is_folder)
        except paths.InvalidPath as exc:
            problems.add(entry, str(exc))
            continue
        # Only now, with the entry judged safe, may a documentation file be skipped.
        if is_folder:
            layout.folders.add(path)
        elif is_documentation(paths.split_path(path)[1]):
            layout.ignored.append(IgnoredEntry(entry, DOCUMENTATION))
        elif path in file_entries:
            problems.add(entry, f"duplicate path {path!r} (same as entry {file_entries[path]!r})")
        else:
            file_entries[path] = entry
            layout.files.append((info, path))
    return layout


def _check_layout(layout: _Layout, limits: ZipLimits, problems: _Problems) -> None:
    """Refuse zips over the total size, with no files, or with a file that is also a folder."""
    if layout.total_bytes > limits.max_total_bytes:
        problems.add(
            "",
            f"the files total {_format_bytes(layout.total_bytes)} uncompressed,"
            f" over the limit of {_format_bytes(limits.max_total_bytes)}",
        )
    folders = _all_folders(layout)
    for info, path in layout.files:
        if path in folders:
            problems.add(info.filename, f"{path!r} is both a file and a folder")
    if not layout.files and problems.total == 0:
        if layout.ignored:
            names = ", ".join(ignored.entry for ignored in layout.ignored[:3])
            more = ", …" if len(layout.ignored) > 3 else ""
            problems.add("", f"the zip contains no images, only ignored files ({names}{more})")
        else:
            problems.add("", "the zip contains no files")


def _all_folders(layout: _Layout) -> set[str]:
    """Return the folder entries and every ancestor folder of every file."""
    folders = set(layout.folders)
    for _, path in layout.files:
        folders.update(paths.ancestors(paths.split_path(path)[0]))
    for folder in layout.folders:
        folders.update(paths.ancestors(folder))
    return folders


def _wrapper(layout: _Layout) -> str | None:
    """Return the single top-level folder to strip, if the zip is wrapped in one."""
    file_paths = [path for _, path in layout.files]
    tops = {path.split("/", 1)[0] for path in [*file_paths, *layout.folders]}
    if len(tops) != 1:
        return None
    (top,) = tops
    if top in paths.SPLIT_FOLDERS:
        return None
    # A file directly in the top folder (or named like it) makes that folder a label, not a wrap.
    if any(paths.split_path(path)[0] in ("", top) for path in file_paths):
        return None
    return top


def _strip_wrappers(layout: _Layout) -> None:
    """Strip wrapping folders ("flower_photos/daisy/1.jpg" -> "daisy/1.jpg"), repeatedly."""
    while (top := _wrapper(layout)) is not None:
        cut = len(top) + 1
        layout.files = [(info, path[cut:]) for info, path in layout.files]
        layout.folders = {folder[cut:] for folder in layout.folders if folder != top}


def _open_archive(fileobj: BinaryIO) -> zipfile.ZipFile:
    """Open the central directory, or raise ZipRejected if this is not a zip."""
    try:
        return zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ZipRejected([EntryProblem("", "file is not a zip archive")]) from exc


def open_zip(fileobj: BinaryIO, limits: ZipLimits) -> ZipPlan:
    """Judge a zip from its central directory alone and return its plan, or raise ZipRejected.

    Nothing is inflated here, so bombs are refused fast. All problems are reported at once.
    """
    archive = _open_archive(fileobj)
    try:
        problems = _Problems()
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            problems.add(
                "", f"the zip has {len(infos):,} entries, over the limit of {limits.max_entries:,}"
            )
        _check_overlaps(infos, problems)
        layout = _gather(archive, limits, problems)
        _check_layout(layout, limits, problems)
        if problems.total:
            raise ZipRejected(problems.items, problems.total)
        _strip_wrappers(layout)
    except BaseException:
        archive.close()
        raise
    return _build_plan(archive, layout, limits)


def _build_plan(archive: zipfile.ZipFile, layout: _Layout, limits: ZipLimits) -> ZipPlan:
    """Assemble the plan from a checked, stripped layout."""
    files = []
    infos = {}
    for info, path in layout.files:
        folder, name = paths.split_path(path)
        files.append(ZipFileEntry(entry=info.filename, path=path, folder=folder, name=name))
        infos[path] = info
    folders = sorted(_all_folders(layout) - {""})
    return ZipPlan(
        folders=folders,
        files=files,
        ignored=layout.ignored,
        _archive=archive,
        _infos=infos,
        _limits=limits,
    )
