"""Frame-threaded decoding never deadlocks, and the package never routes FFmpeg's log through Python.

PyAV's Python log callback (installed by ``av.logging.set_level``) deadlocks FFmpeg's frame
threads: a frame thread logging a damaged packet waits for the GIL while the decoding thread holds
it inside ``avcodec_free_context`` waiting for that thread (PyAV #751, #909, #367). Before the fix
the stress run below hung within its first few rounds; these tests run the decoding in a child
process under a watchdog, so a hang fails the test with the child's stack instead of hanging the
suite.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from media import make_video

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out

REPO_ROOT = Path(__file__).resolve().parents[2]
# Generous: the stress run takes ~10 s on an idle 2-core machine. The watchdog only turns a
# deadlock (which never ends) into a failure with a stack dump; it measures nothing.
WATCHDOG_S = 300

STRESS_SCRIPT = textwrap.dedent(
    """
    import faulthandler, sys
    faulthandler.dump_traceback_later(float(sys.argv[1]), exit=True)
    import av.logging
    from videossr.errors import VideoError
    from videossr.video.decoder import decode_frames, probe_video

    if sys.argv[2] == "python-callback":
        av.logging.set_level(av.logging.PANIC)  # what an application might have done
    rounds, paths = int(sys.argv[3]), sys.argv[4:]
    decoded = failed = 0
    for _ in range(rounds):
        for path in paths:
            try:
                probe = probe_video(path)
                for frame in decode_frames(probe, range(0, probe.num_frames, 3), threads=4, max_pixels=65536):
                    decoded += 1
            except VideoError:
                failed += 1
    print("decoded", decoded, "failed", failed, "level", av.logging.get_level())
    """
)


@pytest.fixture(scope="module")
def good_and_broken(tmp_path_factory) -> list[str]:
    """A clean 640x360 H.264 file and a copy with 300 random bytes overwritten past its header."""
    folder = tmp_path_factory.mktemp("threads")
    good = make_video(
        folder / "good.mp4",
        size="640x360",
        rate=30,
        seconds=6,
        codec_args=("-bf", "2", "-g", "30", "-preset", "ultrafast"),
    )
    data = bytearray(good.read_bytes())
    rng = random.Random(0)
    for _ in range(300):
        data[rng.randrange(len(data) // 10, len(data))] = rng.randrange(256)
    broken = folder / "broken.mp4"
    broken.write_bytes(bytes(data))
    return [str(good), str(broken)]


def _run_stress(paths: list[str], mode: str, rounds: int) -> str:
    try:
        out = subprocess.run(
            [sys.executable, "-c", STRESS_SCRIPT, str(WATCHDOG_S - 30), mode, str(rounds), *paths],
            capture_output=True,
            text=True,
            timeout=WATCHDOG_S,
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"decoding hung past the {WATCHDOG_S} s watchdog: {exc.stderr}")
    assert out.returncode == 0, f"decoding hung or crashed (exit {out.returncode}):\n{out.stderr[-4000:]}"
    return out.stdout


def test_frame_threaded_decoding_of_good_and_broken_files_does_not_deadlock(good_and_broken):
    stdout = _run_stress(good_and_broken, "default", rounds=40)
    words = stdout.split()
    assert int(words[words.index("decoded") + 1]) > 0, stdout
    # The package never installs PyAV's Python log callback while decoding.
    assert words[words.index("level") + 1] == "None", stdout


def test_decoding_falls_back_to_one_thread_when_someone_installed_pyavs_log_callback(good_and_broken):
    stdout = _run_stress(good_and_broken, "python-callback", rounds=10)
    words = stdout.split()
    assert int(words[words.index("decoded") + 1]) > 0, stdout


def test_importing_any_module_of_the_package_leaves_pyav_logging_off():
    script = textwrap.dedent(
        """
        import importlib, pkgutil, videossr
        import av.logging
        failed = []
        for module in pkgutil.walk_packages(videossr.__path__, "videossr."):
            try:
                importlib.import_module(module.name)
            except ImportError as exc:  # an optional stack (e.g. vLLM) that this venv lacks
                failed.append(f"{module.name}: {exc}")
            if av.logging.get_level() is not None:
                raise SystemExit(f"importing {module.name} set av.logging level {av.logging.get_level()}")
        print("imported; not importable:", failed)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    assert "imported" in out.stdout
