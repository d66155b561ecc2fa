"""Progress of imports and uploads on stderr.

On a terminal, a live rich bar: bytes done of total, transfer rate, layer counts and the image's state. Elsewhere (a
CI log, a pipe) a bar would be noise, so one plain line is printed each time something worth reading changes: the
state, the step, a layer finishing, another quarter of the bytes. Nothing here reads the clock for decisions, so the
plain output is the same on a fast machine and a slow one.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from imgsrc.cli.render import human_bytes
from imgsrc.client import ImportProgress, UploadProgress

__all__ = ["ImportWatch", "UploadWatch", "describe_import"]


def _quarter(done: int, total: int) -> int:
    return min(4, done * 4 // total) if total > 0 else 0


def _layers(reading: ImportProgress) -> str:
    if not reading.layers_total:
        return ""
    present = f", {reading.layers_present} present" if reading.layers_present else ""
    return f"layers {reading.layers_done + reading.layers_present}/{reading.layers_total}{present}"


def describe_import(reading: ImportProgress) -> str:
    """One line about an import: ``downloading · Download · 1.2 MB of 4.5 MB · layers 1/3, 1 present``."""
    parts = [reading.state]
    if reading.step:
        parts.append(reading.step)
    if reading.bytes_total:
        parts.append(f"{human_bytes(reading.bytes_done)} of {human_bytes(reading.bytes_total)}")
    layers = _layers(reading)
    if layers:
        parts.append(layers)
    return " · ".join(parts)


class _Watch:
    """Shared plumbing: a rich Progress on a terminal, plain lines elsewhere."""

    def __init__(self, console: Console, *columns: ProgressColumn) -> None:
        self.console = console
        self.live = console.is_terminal
        self._progress = Progress(*columns, console=console, transient=False) if self.live else None
        self._task: TaskID | None = None

    def _start(self, description: str, **fields: Any) -> None:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(description, total=None, **fields)

    def _update(self, *, completed: int, total: int | None, **fields: Any) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, total=total or None, **fields)

    def line(self, text: str) -> None:
        """A plain line on the watch's console (above the bar, if one is shown)."""
        self.console.print(Text(text))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


class ImportWatch(_Watch):
    """``with ImportWatch(console, image_id) as watch: client.images.wait_import(..., on_progress=watch.update)``."""

    def __init__(self, console: Console, image_id: str) -> None:
        super().__init__(
            console,
            SpinnerColumn(),
            TextColumn("{task.fields[state]:<11}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[layers]}"),
            TimeElapsedColumn(),
        )
        self.image_id = image_id
        self._last: tuple[object, ...] | None = None

    def __enter__(self) -> ImportWatch:
        self._start(f"image {self.image_id}", state="queued", layers="")
        if not self.live:
            self.line(f"importing image {self.image_id}")
        return self

    def update(self, reading: ImportProgress) -> None:
        self._update(
            completed=reading.bytes_done, total=reading.bytes_total, state=reading.state, layers=_layers(reading)
        )
        if self.live:
            return
        key = (
            reading.state,
            reading.step,
            reading.layers_done,
            reading.layers_present,
            reading.layers_total,
            _quarter(reading.bytes_done, reading.bytes_total),
        )
        if key != self._last:
            self._last = key
            self.line(describe_import(reading))


class UploadWatch(_Watch):
    """``with UploadWatch(console, name) as watch: client.images.upload(..., on_progress=watch.update)``."""

    def __init__(self, console: Console, name: str) -> None:
        super().__init__(
            console,
            TextColumn("uploading"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        self.name = name
        self._quarter = -1
        self._sent = 0
        self._total: int | None = None

    def __enter__(self) -> UploadWatch:
        self._start(self.name)
        return self

    def update(self, progress: UploadProgress) -> None:
        self._sent, self._total = progress.bytes_sent, progress.bytes_total
        self._update(completed=progress.bytes_sent, total=progress.bytes_total)
        if self.live or progress.bytes_total is None:
            return
        quarter = _quarter(progress.bytes_sent, progress.bytes_total)
        if quarter != self._quarter:
            self._quarter = quarter
            sent, total = human_bytes(progress.bytes_sent), human_bytes(progress.bytes_total)
            self.line(f"uploading {self.name}: {sent} of {total}")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        if exc_type is None:
            self.line(f"sent {human_bytes(self._sent)}; the server verified and stored the image")
