"""kill -9 at random points of every resumable stage, then resume: same outputs, no work lost or redone.

Each stage is run once cleanly, then run again into a second folder and killed (SIGKILL to its
whole process group) at random moments of its run — startup, mid-run, while writing outputs — a few
times in a row; after each kill, half a JSON line is appended to every log the killed run left
(what a kill in the middle of a write leaves), so the next resume starts on a torn log and the one
after it reads what that resume appended. Checked:

- the resumed outputs equal the clean run's (frames and data files byte for byte, data rows
  with only the folder path differing, eval answers id for id);
- the log never loses a finished entry: each kill's set of finished items contains the previous
  kill's (the torn-line defect dropped every entry journalled after a torn line on the second
  resume);
- the final resume makes only what was not finished: it reports exactly the finished items as
  resumed and makes the rest (nothing finished is made twice).

Kill moments are drawn from a seeded generator as fractions of the clean run's wall time; the
property must hold whatever moment the kill lands on.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from media import script_command
from row_checks import output_tree, replicate_frames

from videossr.data.store import read_log
from videossr.frames.build import JOURNAL_PATH
from videossr.io import read_json

pytestmark = pytest.mark.slow

KILLS = 2
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


@dataclass
class Stage:
    """How to run one stage into a folder and read what it has finished there."""

    command: Callable[[Path], list[str]]
    finished: Callable[[Path], set[str]]  # items finished in a (possibly killed) output folder
    logs: Callable[[Path], list[Path]]  # append-only logs a killed run may have left
    compare: Callable[[Path], object]  # what must equal between the clean and the resumed run
    # (output folder, finished items at the last kill, the resume's result, snapshot before it)
    check_resume: Callable[[Path, set[str], subprocess.CompletedProcess, object], None]
    snapshot: Callable[[Path], object] = lambda out: None  # state before the last resume


# ----------------------------------------------------------------------------- journal stages


def _journals(out: Path) -> list[Path]:
    return sorted(out.rglob(".journal/**/*.jsonl"))  # .journal/<task>/<variant>.jsonl


def _journal_entries(out: Path) -> set[str]:
    """``<journal path>/<video_id>`` of every finished video of every output under ``out``.

    A video is finished when its journal holds it, or when its file is complete (then the journal
    is gone and the file's rows and the manifest's failed list hold it).
    """
    done = set()
    for journal in _journals(out):
        entries, _ = read_log(journal)  # raises on a malformed line that is not the last
        for entry in entries[1:]:  # the first line is the settings fingerprint
            if not entry.get("retry_on_resume"):
                done.add(f"{journal.relative_to(out)}/{entry['video_id']}")
    for (folder, stem), entry in _manifest_entries(out).items():
        journal = Path(folder) / ".journal" / f"{stem}.jsonl"
        if not (out / journal).exists():
            rows = [json.loads(line) for line in (out / folder / entry["jsonl"]).read_text().splitlines()]
            ids = [row["extra_info"]["video_id"] for row in rows] + [skip["video_id"] for skip in entry["failed"]]
            done.update(f"{journal}/{video_id}" for video_id in ids)
    return done


def _manifest_entries(out: Path) -> dict[tuple[str, str], dict]:
    """Every generation manifest entry under ``out`` by (manifest folder, file stem)."""
    entries = {}
    for manifest_path in sorted(out.rglob("manifest.json")):
        for stem, entry in read_json(manifest_path).get("files", {}).items():
            entries[(str(manifest_path.parent.relative_to(out)), stem)] = entry
    return entries


def _check_generation_resume(out: Path, finished: set[str], result: subprocess.CompletedProcess, before) -> None:
    """Each file the resume made reports the journalled samples as resumed and made only the rest."""
    made = {key: entry for key, entry in _manifest_entries(out).items() if before.get(key) != entry}
    assert made, "the resume made no file"
    for (folder, stem), entry in made.items():
        journal = f"{Path(folder) / '.journal' / f'{stem}.jsonl'}/"
        resumed = sum(item.startswith(journal) for item in finished)
        assert entry["resumed"] == resumed, (folder, stem, entry, resumed)
        assert entry["generated"] == entry["num_videos"] - resumed, (folder, stem, entry)


def _generation_tree(out: Path) -> dict[str, object]:
    tree = output_tree(out)
    for key in [k for k in tree if k.endswith("mix.json")]:
        mix = json.loads(tree[key])
        mix.pop("finished_at")
        tree[key] = mix
    return tree


def _generation_stage(command: Callable[[Path], list[str]]) -> Stage:
    return Stage(command, _journal_entries, _journals, _generation_tree, _check_generation_resume, _manifest_entries)


# ----------------------------------------------------------------------------- the stages


@pytest.fixture(scope="module")
def big_frames(frames_dir, tmp_path_factory) -> Path:
    """42 videos (6 copies of the 7 test videos): long enough for kills to land mid-run."""
    return replicate_frames(frames_dir, tmp_path_factory.mktemp("big") / "frames", copies=6)


@pytest.fixture(scope="module")
def many_videos(sample_videos, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    for copy in range(4):
        for video in sample_videos:
            shutil.copy(video, folder / f"{copy}_{video.name}")
    return folder


def _sampled_ids(out: Path) -> set[str]:
    """Videos whose frames are done: in the journal of an unfinished run, or in the index."""
    done = set()
    if (out / JOURNAL_PATH).exists():
        entries, _ = read_log(out / JOURNAL_PATH)
        done.update(entry["video_id"] for entry in entries[1:])  # the first line holds the settings
    if (out / "index.jsonl").exists():
        done.update(json.loads(line)["video_id"] for line in (out / "index.jsonl").read_text().splitlines())
    return done


def _sampling_stage(videos: Path) -> Stage:

    def check(out: Path, finished: set[str], result: subprocess.CompletedProcess, before) -> None:
        assert result.stdout.startswith(f"sampled {16 - len(finished)}, failed 0, already done {len(finished)}"), (
            result.stdout
        )

    def compare(out: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(out)): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "manifest.json"
        }

    return Stage(
        command=lambda out: script_command(
            "pretext_tasks/sample_frames.py", video_dir=videos, output_dir=out, workers=1
        ),
        finished=_sampled_ids,
        logs=lambda out: [out / JOURNAL_PATH] if (out / JOURNAL_PATH).exists() else [],
        compare=compare,
        check_resume=check,
    )


def _eval_stage(benchmark: Path, model: Path) -> Stage:
    def answers(out: Path) -> dict[str, str]:
        entries, _ = read_log(out / "responses.jsonl")
        by_id = {e["id"]: e["response"] for e in entries}
        assert len(by_id) == len(entries), "an item was answered twice"
        return by_id

    def finished(out: Path) -> set[str]:
        return set(answers(out)) if (out / "responses.jsonl").exists() else set()

    def check(out: Path, done: set[str], result: subprocess.CompletedProcess, before) -> None:
        assert f"already done {len(done)}" in result.stdout, result.stdout
        assert math.isfinite(read_json(out / "summary.json")["overall"])  # the resumed run scored

    return Stage(
        command=lambda out: script_command(
            "eval/viubench.py", "run", benchmark=benchmark, model=model, batch_size=1, max_new_tokens=4, output_dir=out
        ),
        finished=finished,
        logs=lambda out: [out / "responses.jsonl"] if (out / "responses.jsonl").exists() else [],
        compare=answers,
        check_resume=check,
    )


def _run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _kill_at(command: list[str], delay_s: float) -> bool:
    """Run ``command`` and SIGKILL its process group after ``delay_s``; False if it finished first."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=ENV
    )
    try:
        process.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True
    assert process.returncode == 0, f"the run failed on its own (exit {process.returncode})"
    return False


def _check_kill_and_resume(stage: Stage, tmp_path: Path, seed: int) -> None:
    clean = tmp_path / "clean"
    started = time.monotonic()
    _run(stage.command(clean))
    clean_s = time.monotonic() - started

    out = tmp_path / "killed"
    rng = random.Random(seed)
    finished: set[str] = set()
    delay_s = rng.uniform(0.1, 0.8) * clean_s
    while not _kill_at(stage.command(out), delay_s):
        # On a loaded machine the run may beat its kill: start over with an earlier kill.
        shutil.rmtree(out)
        delay_s /= 2
    for kill in range(KILLS):
        if kill > 0 and not _kill_at(stage.command(out), delay_s=rng.uniform(0.1, 0.8) * clean_s):
            # A resumed run has less to do and may finish before its kill: nothing left to resume.
            assert stage.compare(out) == stage.compare(clean)
            return
        now = stage.finished(out)
        assert finished <= now, f"finished items were lost: {sorted(finished - now)[:5]}"
        finished = now
        for log in stage.logs(out):  # what a kill in the middle of a write leaves
            with log.open("a", encoding="utf-8") as handle:
                handle.write('{"video_id": "half a li')
        assert stage.finished(out) == finished, "a torn last line must not count as finished"
    before = stage.snapshot(out)
    result = _run(stage.command(out))
    stage.check_resume(out, finished, result, before)
    assert stage.compare(out) == stage.compare(clean)


def test_killed_frame_sampling_resumes_to_the_same_frames(many_videos, tmp_path):
    _check_kill_and_resume(_sampling_stage(many_videos), tmp_path, seed=1)


def test_killed_generator_resumes_to_the_same_files_without_redoing_work(big_frames, tmp_path):
    stage = _generation_stage(
        lambda out: script_command(
            "pretext_tasks/grounding.py", frames_dir=big_frames, perturbation="Blur", workers=1, output_dir=out
        )
    )
    _check_kill_and_resume(stage, tmp_path, seed=2)


def test_killed_mix_build_resumes_to_the_same_mix(big_frames, tmp_path):
    stage = _generation_stage(
        lambda out: script_command(
            "pretext_tasks/build_mix.py", frames_dir=big_frames, val_fraction=0.1, workers=1, output_dir=out
        )
    )
    _check_kill_and_resume(stage, tmp_path, seed=3)


def test_killed_viubench_build_resumes_to_the_same_benchmark(big_frames, tmp_path):
    stage = _generation_stage(
        lambda out: script_command(
            "eval/viubench.py", "build", frames_dir=big_frames, per_subtype=4, workers=1, output_dir=out
        )
    )
    _check_kill_and_resume(stage, tmp_path, seed=4)


def test_killed_eval_run_resumes_to_the_same_answers(frames_dir, tmp_path, tiny_model):
    from videossr.eval.viubench import build_viubench

    benchmark = build_viubench(frames_dir, tmp_path / "bench", per_subtype=2, seed=0, reuse_videos=True, workers=1)
    model = tiny_model("qwen2_5_vl")
    _check_kill_and_resume(_eval_stage(benchmark, model), tmp_path, seed=5)


def test_a_torn_journal_line_is_cut_before_the_next_append(tmp_path):
    """The reported defect at its root: the next run's first entry glued onto the torn line."""
    from videossr.data.store import AppendLog

    path = tmp_path / "journal.jsonl"
    with AppendLog(path, header={"settings": 1}) as log:
        log.append({"video_id": "a"})
    with path.open("a") as handle:
        handle.write('{"video_id": "b", "ro')  # killed mid-write
    with AppendLog(path, header={"settings": 1}) as log:  # first resume
        assert [e["video_id"] for e in log.entries] == ["a"] and log.repaired
        log.append({"video_id": "c"})
        log.append({"video_id": "d"})
    with AppendLog(path, header={"settings": 1}) as log:  # second resume sees everything
        assert [e["video_id"] for e in log.entries] == ["a", "c", "d"] and not log.repaired
    assert path.read_text().count("\n") == 4 and json.loads(path.read_text().splitlines()[0]) == {"settings": 1}
