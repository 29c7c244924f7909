"""Every benchmark in bench/ runs end to end with ``--smoke`` and prints its result line.

Nothing else runs the benchmarks, so without this they rot: a renamed sample field or a moved data
file breaks one only when somebody next measures. ``--smoke`` picks the smallest sizes that still
run every code path of a benchmark; the numbers it prints mean nothing, so nothing here checks
them, and the timeout is a hang guard, not a timing check. Each run gets a temporary working
folder and ``TMPDIR``, and must leave the repository's ``data/`` and ``bench/.cache`` as they were.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from media import REPO_ROOT, script_command
from vllm_cpu import kill_session

pytestmark = pytest.mark.slow

HANG_TIMEOUT_S = 300
#: After a hang, SIGINT first (a bench's ``finally`` stops the Ray clusters it started), then SIGKILL.
INTERRUPT_GRACE_S = 30


@dataclass(frozen=True)
class Bench:
    script: str
    results: tuple[str, ...]  # regexes (multi-line mode) on stdout: the lines carrying its ratios / results
    modules: tuple[str, ...] = ()  # optional stacks it imports
    commands: tuple[str, ...] = ()  # programs it runs
    json_flag: bool = False  # takes --json PATH and writes its results there


BENCHES = [
    # The last cell of the table (every frame size, difficulty and rule comes before it).
    Bench(
        "bench/bench_counting_placement.py",
        (r"^smallest 36x20\s+hard separate\s+(\d+\.\d%\s+){4}\d\.\d{3}\s+\d\.\d\d\s+\d+\.\d",),
        json_flag=True,
    ),
    Bench(
        "bench/bench_eval.py",
        (
            r"^one-at-a-time \d+\.\d\d items/s, batched \d+\.\d\d items/s: \d+\.\d\dx$",
            r"^decode-once / per-question: \d+\.\d\dx \(k = \d+\); 2 workers / 1 worker: \d+\.\d\dx; "
            r"2 workers / per-question: \d+\.\d\dx$",
        ),
        modules=("torch", "transformers"),
        commands=("ffmpeg",),
    ),
    # Our filter must give every row verl's length: True is part of the result line.
    Bench(
        "bench/bench_filter.py",
        (r"^speed-up x\d+; same length for all \d+ rows both saw: True$",),
        modules=("torch", "transformers", "verl", "omegaconf"),
        json_flag=True,
    ),
    Bench(
        "bench/bench_generators.py",
        tuple(
            rf"^{re.escape(name)}\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\dx$"
            for name in ("ChannelSwap", "Mirror", "ZoomOut", "Rotate180", "Noise", "Blur", "counting/easy", "jigsaw/6")
        ),
        commands=("ffmpeg",),
    ),
    Bench("bench/bench_parsing.py", (r"^largest gap 0\.00 points \(bound 1\.0\): ok$",)),
    # The measuring (process-tree PSS, wall, ratios) on stand-in processes: 2 of ~100 MB vs 1.
    Bench(
        "bench/bench_training_scale.py",
        (r"^\| 2 ranks \| 0 \| 0/0 \| \d+ \| \d+\.\d \| -?\d+\.\d \| \d+\.\d\d \| (1\.[3-9]|2\.[0-4])\d \|$",),
    ),
    Bench(
        "bench/bench_ray.py",
        (r"^  2 nodes vs 1: \d+\.\d\dx \(scaling efficiency \d+%\); 2 Ray nodes vs local pool: \d+\.\d\dx$",),
        modules=("ray",),
    ),
    Bench(
        "bench/bench_report.py",
        (
            r"^  1 run\(s\): \d+\.\d\d s median build .*, \d+ gallery items, \d+ KB per item$",
            r"^  2 run\(s\): \d+\.\d\d s median build .*, \d+ gallery items, \d+ KB per item$",
        ),
    ),
    Bench(
        "bench/bench_sample_frames.py",
        tuple(
            rf"^{re.escape(name)}\s+\d+\.\d\s+\d+\.\d\d\s+\d+\.\d\s+\d+\s+\d+\.\d\dx\s+\d+\.\d\dx$"
            for name in ("reference", "reference-1t", "ours", "ours-fullres", "ours-decode", "ffmpeg-decode")
        ),
        modules=("decord",),
        commands=("ffmpeg",),
    ),
]


def _missing(bench: Bench) -> str | None:
    """Why ``bench`` cannot run here (an optional stack or program is not installed), or None."""
    modules = [m for m in bench.modules if importlib.util.find_spec(m) is None]
    if modules:
        return f"{bench.script} needs {', '.join(modules)} (requirements.txt), not installed here"
    commands = [c for c in bench.commands if shutil.which(c) is None]
    if commands:
        return f"{bench.script} runs {', '.join(commands)}, not on PATH (scripts/setup.sh installs it)"
    if "ray" in bench.modules and not Path(sys.executable).with_name("ray").exists():
        return f"{bench.script} starts Ray nodes with the ray CLI, missing beside {sys.executable}"
    return None


def _repo_state() -> set[tuple[str, int]]:
    """Files (path, size) of the folders a smoke run must not write to."""
    return {
        (str(path.relative_to(REPO_ROOT)), path.stat().st_size)
        for folder in (REPO_ROOT / "data", REPO_ROOT / "bench" / ".cache")
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def _run(command: list[str], tmp_path: Path) -> tuple[int, str, str]:
    """Run ``command`` in its own session; (exit status, stdout, stderr). Fails the test on a hang."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    work = tmp_path / "work"
    work.mkdir()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=work, start_new_session=True)
        hung = False
        try:
            process.wait(timeout=HANG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            hung = True
            try:
                os.killpg(process.pid, signal.SIGINT)
                process.wait(timeout=INTERRUPT_GRACE_S)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        finally:
            kill_session(process.pid)  # whatever it left in its session (pool workers)
            process.wait()
    stdout_text, stderr_text = out.read_text(errors="replace"), err.read_text(errors="replace")
    if hung:
        pytest.fail(f"{command[1]} --smoke hung (> {HANG_TIMEOUT_S} s); its output ended:\n{stderr_text[-3000:]}")
    return process.returncode, stdout_text, stderr_text


@pytest.mark.parametrize("bench", BENCHES, ids=[Path(b.script).name for b in BENCHES])
def test_bench_smoke_run_exits_0_and_prints_its_result(bench: Bench, tmp_path):
    reason = _missing(bench)
    if reason:
        pytest.skip(reason)
    result_json = tmp_path / "result.json"
    flags = {"smoke": True, **({"json": result_json} if bench.json_flag else {})}
    before = _repo_state()
    status, stdout, stderr = _run(script_command(bench.script, **flags), tmp_path)
    assert status == 0, f"exit {status}; stdout ended:\n{stdout[-2000:]}\nstderr ended:\n{stderr[-4000:]}"
    for pattern in bench.results:
        assert re.search(pattern, stdout, re.MULTILINE), f"no line matches {pattern!r} in:\n{stdout[-3000:]}"
    if bench.json_flag:
        assert json.loads(result_json.read_text())
    assert _repo_state() == before, "the smoke run wrote into data/ or bench/.cache"


def test_every_bench_script_has_a_smoke_test_and_documents_it():
    scripts = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "bench").glob("*.py"))
    assert scripts == sorted(b.script for b in BENCHES), "add the new bench to BENCHES (with its result line)"
    for script in scripts:
        docstring = ast.get_docstring(ast.parse((REPO_ROOT / script).read_text())) or ""
        run_section = docstring.partition("\nRun:\n")[2]
        assert f"{script} --smoke" in run_section, f"{script}: describe --smoke in the docstring's Run: section"
