"""One writer per output: a second run on the same folder is refused at once, and a dead run's lock
never sticks (reliability issue, part 5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import script_command
from row_checks import replicate_frames

from videossr.data.store import OutputBusyError, exclusive_writer

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def test_a_second_holder_is_refused_with_the_folder_and_the_holder(tmp_path):
    with exclusive_writer(tmp_path):
        script = (
            "import sys; from videossr.data.store import exclusive_writer\nwith exclusive_writer(sys.argv[1]): pass"
        )
        result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True)
        assert result.returncode != 0
        assert "OutputBusyError" in result.stderr and str(tmp_path) in result.stderr
        assert f"pid {os.getpid()}" in result.stderr  # names the running process
    with exclusive_writer(tmp_path):  # released at the end of the block: free again
        pass


def test_locks_of_different_outputs_in_one_folder_are_independent(tmp_path):
    with exclusive_writer(tmp_path, "blur"), exclusive_writer(tmp_path, "counting"):
        with pytest.raises(OutputBusyError, match="blur"):
            _hold_in_child(tmp_path, "blur")


def _hold_in_child(folder: Path, name: str) -> None:
    script = (
        "import sys; from videossr.data.store import OutputBusyError, exclusive_writer\n"
        "try:\n    with exclusive_writer(sys.argv[1], sys.argv[2]): pass\n"
        "except OutputBusyError as exc:\n    print(exc); sys.exit(3)"
    )
    result = subprocess.run([sys.executable, "-c", script, str(folder), name], capture_output=True, text=True)
    if result.returncode == 3:
        raise OutputBusyError(result.stdout.strip())
    assert result.returncode == 0, result.stderr


def test_a_killed_holder_leaves_no_stuck_lock(tmp_path):
    script = (
        "import sys, time; from videossr.data.store import exclusive_writer\n"
        "with exclusive_writer(sys.argv[1]): print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(OutputBusyError):
        with exclusive_writer(tmp_path):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with exclusive_writer(tmp_path):  # the kernel released it with the process
        pass


# ----------------------------------------------------------------------------- every stage, as a user runs it


def _start_and_wait_for_lock(command: list[str], lock: Path) -> subprocess.Popen:
    """Start ``command`` and return once it holds ``lock`` (its holder line is written), stopped.

    The run is frozen (SIGSTOP) while it holds the lock, so it cannot finish and let go of it before
    the second run tries: on a loaded machine a quick stage otherwise ends while the second run is
    still starting up, and the second finds nothing to do (seen: 42 Blur samples beat a start-up).
    """
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True, env=ENV
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text().startswith(f"pid {process.pid} "):
            os.killpg(process.pid, signal.SIGSTOP)
            return process
        if process.poll() is not None:
            pytest.fail(f"the first run ended before it was seen holding its lock: {process.stderr.read()[-2000:]}")
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail("the first run never took its lock")


@pytest.fixture(scope="module")
def big_frames(frames_dir, tmp_path_factory) -> Path:
    return replicate_frames(frames_dir, tmp_path_factory.mktemp("lockframes") / "frames", copies=6)


def _stage_commands(name: str, big_frames: Path, sample_videos: list[Path], tmp_path: Path, tiny_model):
    """(command writing into OUT, the lock file it holds) of each stage."""
    out = tmp_path / "out"
    if name == "sample_frames":
        videos = tmp_path / "videos"
        videos.mkdir()
        for copy in range(4):
            for video in sample_videos:
                (videos / f"{copy}_{video.name}").symlink_to(video)
        command = script_command("pretext_tasks/sample_frames.py", video_dir=videos, workers=1, output_dir=out)
        return command, out / ".videossr.lock"
    if name == "generator":
        return _blur_command(big_frames, out), out / ".journal" / "grounding" / ".blur.lock"
    if name == "mix":
        command = script_command("pretext_tasks/build_mix.py", frames_dir=big_frames, workers=1, output_dir=out)
        return command, out / ".mix.lock"
    if name == "viubench_build":
        command = script_command(
            "eval/viubench.py", "build", frames_dir=big_frames, per_subtype=4, workers=1, output_dir=out
        )
        return command, out / ".viubench.lock"
    from videossr.eval.viubench import build_viubench

    bench = build_viubench(big_frames, tmp_path / "bench", per_subtype=2, seed=0, workers=1)
    command = script_command(
        "eval/viubench.py",
        "run",
        benchmark=bench,
        model=tiny_model("qwen2_5_vl"),
        batch_size=1,
        max_new_tokens=4,
        output_dir=out,
    )
    return command, out / ".videossr.lock"


def _blur_command(big_frames: Path, out: Path) -> list[str]:
    return script_command(
        "pretext_tasks/grounding.py", frames_dir=big_frames, perturbation="Blur", workers=1, output_dir=out
    )


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["sample_frames", "generator", "mix", "viubench_build", "eval_run"])
def test_a_second_run_on_the_same_output_is_refused_and_a_killed_one_does_not_block(
    stage, big_frames, sample_videos, tmp_path, tiny_model
):
    command, lock = _stage_commands(stage, big_frames, sample_videos, tmp_path, tiny_model)
    first = _start_and_wait_for_lock(command, lock)
    try:
        second = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the first run dies holding its lock
        first.wait()
    assert second.returncode == 2, second.stderr
    message = second.stderr.strip()
    assert message.count("\n") == 0, message  # one line
    assert str(tmp_path / "out") in message
    assert f"pid {first.pid}" in message
    resumed = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]


@pytest.mark.slow
def test_two_generators_may_write_different_files_of_one_folder_side_by_side(big_frames, tmp_path):
    out = tmp_path / "out"
    blur = _blur_command(big_frames, out)
    counting = script_command("pretext_tasks/counting.py", frames_dir=big_frames, workers=1, output_dir=out)
    first = _start_and_wait_for_lock(blur, out / ".journal" / "grounding" / ".blur.lock")
    try:  # counting runs to the end while Blur holds its lock (frozen)
        second = subprocess.run(counting, capture_output=True, text=True, env=ENV, timeout=900)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert first.wait(timeout=900) == 0, first.stderr.read()[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    assert (out / "grounding/blur.parquet").is_file() and (out / "counting/easy.parquet").is_file()
