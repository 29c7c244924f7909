"""Finding videos and naming them: ids are relative paths, unique, and safe as folder names."""

from __future__ import annotations

from pathlib import Path

import pytest

from videossr.errors import ConfigError
from videossr.video.discovery import find_videos, id_problem, read_video_list


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_finds_videos_recursively_with_any_case_extension_and_skips_the_rest(tmp_path):
    for name in [
        "a.mp4",
        "b.MKV",
        "sub/c.WebM",
        "sub/deeper/d.avi",
        "e.Mov",
        "notes.txt",
        "f.mp4.part",
        ".hidden.mp4",
        "._a.mp4",
        ".cache/g.mp4",
    ]:
        touch(tmp_path / name)
    ids = [s.video_id for s in find_videos([tmp_path])]
    assert ids == ["a", "b", "e", "sub/c", "sub/deeper/d"]


def test_paths_are_absolute_and_ids_keep_spaces_and_non_ascii(tmp_path):
    touch(tmp_path / "vidéo clip 1.mp4")
    touch(tmp_path / "目录" / "片段.mkv")
    sources = find_videos([tmp_path])
    assert [s.video_id for s in sources] == ["vidéo clip 1", "目录/片段"]
    assert all(s.path.is_absolute() and s.path.exists() for s in sources)


def test_same_stem_in_one_folder_keeps_extensions(tmp_path):
    touch(tmp_path / "clip.mp4")
    touch(tmp_path / "clip.mkv")
    touch(tmp_path / "other.mp4")
    assert [s.video_id for s in find_videos([tmp_path])] == ["clip.mkv", "clip.mp4", "other"]


def test_same_id_in_two_folders_is_an_error_naming_both(tmp_path):
    touch(tmp_path / "one" / "clip.mp4")
    touch(tmp_path / "two" / "clip.mp4")
    with pytest.raises(ConfigError, match=r"'clip'.*one.*two"):
        find_videos([tmp_path / "one", tmp_path / "two"])


def test_missing_folder_says_what_to_pass(tmp_path):
    with pytest.raises(ConfigError, match="video folder not found.*--video-dir"):
        find_videos([tmp_path / "nope"])


def test_video_list_resolves_relative_paths_and_explicit_ids(tmp_path):
    touch(tmp_path / "lists" / "local" / "a.mp4")
    elsewhere = touch(tmp_path / "elsewhere" / "b.mkv")
    list_file = tmp_path / "lists" / "videos.txt"
    list_file.write_text(f"# my videos\nlocal/a.mp4\n\n{elsewhere}\n{elsewhere}\tcustom/name\n")
    sources = read_video_list(list_file)
    assert [(s.video_id, s.path.name) for s in sources] == [
        ("b", "b.mkv"),
        ("custom/name", "b.mkv"),
        ("local/a", "a.mp4"),
    ]


@pytest.mark.parametrize(
    "line, problem",
    [
        ("x.mp4\t../escape", "'..'"),
        ("x.mp4\t/abs", "relative"),
        ("x.mp4\ta//b", "empty"),
        ("x.mp4\t.hidden", "start with '.'"),
    ],
)
def test_video_list_rejects_ids_that_could_escape_the_output_folder(tmp_path, line, problem):
    list_file = tmp_path / "videos.txt"
    list_file.write_text(line + "\n")
    with pytest.raises(ConfigError, match=problem):
        read_video_list(list_file)


def test_video_list_rejects_duplicate_ids_with_the_line_number(tmp_path):
    list_file = tmp_path / "videos.txt"
    list_file.write_text("a/x.mp4\nb/x.mp4\ta/x\n")
    with pytest.raises(ConfigError, match=r"videos.txt:2: video id 'a/x' already used"):
        read_video_list(list_file)


def test_empty_or_missing_video_list_is_an_error(tmp_path):
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ConfigError, match="names no video"):
        read_video_list(tmp_path / "empty.txt")
    with pytest.raises(ConfigError, match="not found"):
        read_video_list(tmp_path / "missing.txt")


def test_id_problem_accepts_nested_unicode_ids():
    assert id_problem("cooking/pasta 01/é") is None
