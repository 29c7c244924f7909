"""Finding video files and naming them with stable, unique video ids.

A ``video_id`` is the path of the file relative to the folder it was found in, without its
extension, with ``/`` as separator (``cooking/pasta 01`` for ``DIR/cooking/pasta 01.mp4``). It is
used as a folder name under output directories, as the ``video_id`` column of every data file,
and as an input of per-sample seeds, so it must be unique and must not depend on the machine.

Nothing here opens a video: files are matched by extension alone and judged by the decoder later.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from videossr.errors import ConfigError

#: Extensions recognised as video files (compared case-insensitively).
VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".flv",
        ".wmv",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".ogv",
        ".vob",
        ".asf",
    }
)


@dataclass(frozen=True, order=True)
class VideoSource:
    """One input video: its id and its absolute path."""

    video_id: str
    path: Path


def is_video_file(path: Path) -> bool:
    """True for a non-hidden file name with a video extension (any case)."""
    return not path.name.startswith(".") and path.suffix.lower() in VIDEO_EXTENSIONS


def find_videos(video_dirs: Sequence[str | Path]) -> list[VideoSource]:
    """All video files under ``video_dirs`` (recursive, symlinks followed), sorted by id.

    Hidden files and folders (name starting with ``.``, e.g. macOS ``._clip.mp4`` resource forks)
    are skipped. Within one folder, files that differ only by extension (``a.mp4``, ``a.mkv``)
    keep their extension in the id (``a.mp4``, ``a.mkv``) so ids stay unique.

    Raises:
        ConfigError: a folder is missing or not a folder, or two folders yield the same id.
    """
    owner_of_id: dict[str, Path] = {}
    sources: list[VideoSource] = []
    for video_dir in video_dirs:
        root = Path(video_dir).expanduser()
        if not root.exists():
            raise ConfigError(f"video folder not found: {root} (pass an existing folder to --video-dir)")
        if not root.is_dir():
            raise ConfigError(f"not a folder: {root} (pass a folder to --video-dir, or a list file to --video-list)")
        root = root.resolve()
        for source in _videos_in(root):
            if source.video_id in owner_of_id:
                raise ConfigError(
                    f"video id {source.video_id!r} occurs under both {owner_of_id[source.video_id]} and {root}; "
                    "rename one, or pass a --video-list that gives explicit ids"
                )
            owner_of_id[source.video_id] = root
            sources.append(source)
    return sorted(sources)


def _videos_in(root: Path) -> list[VideoSource]:
    paths: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        paths.extend(Path(dirpath) / name for name in filenames if is_video_file(Path(name)))
    relative = [PurePosixPath(p.relative_to(root).as_posix()) for p in paths]
    return _assign_ids(list(zip(relative, paths)))


def _assign_ids(entries: Iterable[tuple[PurePosixPath, Path]]) -> list[VideoSource]:
    by_stem: dict[str, list[tuple[PurePosixPath, Path]]] = defaultdict(list)
    for relative, path in entries:
        by_stem[str(relative.with_suffix(""))].append((relative, path))
    sources = []
    for stem, group in by_stem.items():
        if len(group) == 1:
            sources.append(VideoSource(stem, group[0][1]))
        else:
            sources.extend(VideoSource(str(relative), path) for relative, path in group)
    ids = [s.video_id for s in sources]
    if len(set(ids)) != len(ids):
        clash = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"video ids clash after disambiguation: {clash[:5]}; rename these files")
    return sources


def read_video_list(list_file: str | Path) -> list[VideoSource]:
    """Videos named in a text file, sorted by id.

    One video per line: ``PATH`` or ``PATH<TAB>VIDEO_ID``. Blank lines and lines starting with
    ``#`` are ignored; relative paths are relative to the list file's folder. Without an explicit
    id, a video inside the list's folder gets its relative path without extension, any other
    video its file name without extension.

    Raises:
        ConfigError: the list is missing or empty, an id is malformed, or two lines share an id.
    """
    list_file = Path(list_file).expanduser()
    if not list_file.is_file():
        raise ConfigError(f"video list not found: {list_file} (pass a text file with one video path per line)")
    base = list_file.resolve().parent
    sources: dict[str, VideoSource] = {}
    for line_number, line in enumerate(list_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        path_text, _, explicit_id = line.partition("\t")
        path = Path(path_text.strip()).expanduser()
        path = (base / path) if not path.is_absolute() else path
        path = Path(os.path.normpath(path))
        video_id = explicit_id.strip() or _default_list_id(path, base)
        problem = id_problem(video_id)
        if problem:
            raise ConfigError(f"{list_file}:{line_number}: bad video id {video_id!r}: {problem}")
        if video_id in sources:
            raise ConfigError(
                f"{list_file}:{line_number}: video id {video_id!r} already used by {sources[video_id].path}; "
                "give the line an explicit id after a tab"
            )
        sources[video_id] = VideoSource(video_id, path)
    if not sources:
        raise ConfigError(f"video list {list_file} names no video")
    return sorted(sources.values())


def _default_list_id(path: Path, base: Path) -> str:
    try:
        relative = PurePosixPath(path.relative_to(base).as_posix())
    except ValueError:
        relative = PurePosixPath(path.name)
    return str(relative.with_suffix(""))


def id_problem(video_id: str) -> str | None:
    """Why ``video_id`` cannot name an output folder, or None if it can."""
    if not video_id:
        return "empty"
    if video_id.startswith("/") or "\\" in video_id or "\0" in video_id:
        return "must be a relative path with '/' separators"
    parts = video_id.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "empty, '.' or '..' path components are not allowed"
    if any(part.startswith(".") for part in parts):
        return "components must not start with '.' (hidden names are reserved for temporary files)"
    return None
