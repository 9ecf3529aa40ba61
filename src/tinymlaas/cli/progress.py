"""Progress bars of bytes sent or received, and a file that reports what is read from it."""

from __future__ import annotations

import io
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tinymlaas.cli.client import TransferProgress
from tinymlaas.cli.formatting import size


class TransferredColumn(ProgressColumn):
    """Bytes done of the total, in the sizes the rest of the CLI prints: "1.5 MiB / 5.5 MiB"."""

    def render(self, task: Task) -> Text:
        done = size(int(task.completed))
        total = "?" if task.total is None else size(int(task.total))
        return Text(f"{done} / {total}", style="progress.download")


class SpeedColumn(ProgressColumn):
    """The transfer speed, in binary units per second: "2.3 MiB/s"."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{size(speed)}/s", style="progress.data.speed")


class ByteProgress:
    """One Rich bar of bytes on `console`, drawn only when it is a terminal (not in scripts)."""

    def __init__(self, description: str, console: Console, when_done: str | None = None) -> None:
        self._when_done = when_done
        self._total: int | None = None
        self._done = 0
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TransferredColumn(),
            SpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self._progress.add_task(description, total=None)

    def __enter__(self) -> ByteProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def start(self, total: int | None) -> None:
        self._total = total
        self._progress.update(self._task, total=total)

    def advance(self, count: int) -> None:
        """Move the bar; at the total, show `when_done` (an upload then waits for the server)."""
        self._done += count
        self._progress.advance(self._task, count)
        if self._when_done and self._total is not None and self._done >= self._total:
            self._progress.update(self._task, description=self._when_done)


class ProgressFile(io.FileIO):
    """A file opened for reading whose reads and seeks move `progress` by the bytes passed.

    httpx streams a multipart file by seeking to 0 and reading chunks; being a real file, its
    size is known from `fileno()` so the request still carries a Content-Length.
    """

    def __init__(self, path: Path, progress: TransferProgress) -> None:
        super().__init__(path, "rb")
        self._progress = progress

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self._progress.advance(len(chunk))
        return chunk

    def seek(self, position: int, whence: int = io.SEEK_SET, /) -> int:
        before = self.tell()
        after = super().seek(position, whence)
        self._progress.advance(after - before)
        return after
