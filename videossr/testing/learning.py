"""Does GRPO on our real rewards move a policy? A CPU benchmark: warm-started tiny Qwen3-VL, verl's trainer.

``bash train/learn_cpu.sh`` runs this. It builds, under ``--output-dir`` (reused on a re-run):

1. ``frames/``: the bundled clips sampled to 48 frames;
2. ``warm/``: a tiny Qwen3-VL after a supervised warm start (:mod:`videossr.testing.warm_start`),
   so that its answers parse and real rewards vary;
3. ``data/train.parquet``, ``data/val.parquet``: rows of the VideoSSR-30K variants (all three
   tasks) from disjoint seeds;
4. ``runs/<name>/``: ``train/smoke_cpu.sh`` runs of verl's real GRPO trainer with ``REWARD=task``
   (our reward, smooth), validation (verl's own, ``trainer.test_freq``) before training and every
   ``--test-freq`` steps, sampled (temperature 1, ``--val-n`` answers a question) so that
   validation has seed-to-seed spread. One run per seed, one control with the learning rate 0
   (the same sampling noise, no updates) and one run with ``REWARD_MODE=strict`` (``--no-control``,
   ``--no-strict`` leave them out);
5. ``learning.html``: every run's curves (``train/curves.py``).

The measure is the mean over tasks of verl's ``val-core/<task>/reward/mean@N`` (the reward of the
run's mode). It prints each run's curve and one verdict line::

    learning: start S±s -> end E±e mean validation reward over K seeds; control C0 -> C1; strict T0 -> T1 (...); learned

``learned`` when ``E - S > 3 s`` (``s``, the standard deviation of the start over seeds) and the
control's change stays within ``3 s``; else ``did not learn`` and exit status 1. The strict run is
reported beside it (``rose`` when its rise exceeds 3 sampling errors of its start,
:func:`sampling_error`: one run has no seeds to spread) but does not decide the verdict: strict
pays only an exact answer, and a tiny model that cannot read the pixels gives one to about 1
counting question in 100 and almost never to the others (measured: docs/training.md), too rare for
GRPO's groups to carry a signal. What a strict run proves is that the mode reaches the reward (the
reward-mode check). One seed (``--seeds 1``) has no spread: its start's sampling error is printed
instead, ``no verdict``, exit status 0 (a quick look). A run finished with
the same settings is not run again (its metrics are read), so a killed benchmark resumes; one
made with other settings is run again.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from videossr.testing.sessions import kill_session, remove_orphaned_shared_memory, session_pss_kb

REPO = Path(__file__).resolve().parents[2]
SMOKE_SCRIPT = REPO / "train" / "smoke_cpu.sh"


@dataclass(frozen=True)
class RunSpec:
    name: str
    seed: int
    lr: float
    reward_mode: str = "smooth"


@dataclass
class Curve:
    """One run's validation: per validated step, the mean reward over tasks (``points``) and, per
    task, verl's logged means of the reward and of each key our reward returns (``tasks``:
    ``{step: {task: {"reward": r, "parsed": p, "smooth": s, "strict": t, ...}}}``)."""

    spec: RunSpec
    points: dict[int, float]
    tasks: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    wall_s: float | None = None  # the run's wall time, s (None: not recorded)
    peak_pss_gb: float | None = None  # the summed PSS of its processes at its peak, GB
    start_error: float | None = None  # the sampling error of the start (:func:`sampling_error`)

    @property
    def start(self) -> float:
        return self.points[min(self.points)]

    @property
    def end(self) -> float:
        return self.points[max(self.points)]


#: Frames at 112x112 pixels: a 16:9 or a 2.35:1 frame becomes 64x128, 8 video tokens a frame pair
#: (~190 a question, instead of ~1,700 at the training files' 256x256). A tiny model cannot read
#: pixels, a step costs less, and a batch's pixels (verl's transfer queue holds them twice per
#: answer) fit: at 128x128 (64x192 for 2.35:1) a validation of 120 answers got a worker killed
#: by Ray's memory monitor on the 24 GB machine. Less is not possible: qwen-vl-utils then
#: resizes a 2.35:1 frame to a height of 0 (its 64-pixel factor, floored).
PIXELS = {"max_pixels": 112 * 112, "min_pixels": 112 * 112}


def prepare(output_dir: Path, family: str, train_rows: int, val_rows: int, warm_steps: int) -> tuple[Path, Path]:
    """Frames, warm-started model and data files under ``output_dir``: ``(model, data dir)``."""
    import pyarrow.parquet as pq

    from videossr.tasks.rows import rows_to_table
    from videossr.testing.tiny_models import tiny_model_dir
    from videossr.testing.warm_start import WarmStartSettings, generate_rows, warm_start

    frames = output_dir / "frames"
    if not (frames / "index.jsonl").is_file():  # the sampler resumes a killed run by itself
        command = [sys.executable, str(REPO / "pretext_tasks" / "sample_frames.py"), "--video-dir",
                   str(REPO / "data" / "videos"), "--output-dir", str(frames)]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    settings = WarmStartSettings(steps=warm_steps, **PIXELS)
    model = warm_start(tiny_model_dir(family), frames, output_dir / "warm", settings)
    data = output_dir / "data"
    for name, count, seed in (("train", train_rows, 100), ("val", val_rows, 200)):
        path = data / f"{name}.parquet"
        if not path.is_file():
            rows = generate_rows(frames, count, seed, data / "frames" / name, **PIXELS)
            data.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows_to_table(rows), path.with_suffix(".partial"))
            path.with_suffix(".partial").rename(path)
    return model, data


#: A finished run's settings, wall time and peak memory, in its run folder.
RECORD_NAME = "run.json"
#: The options that change what a run computes: a finished run made with others is run again.
RUN_OPTIONS = ("family", "steps", "test_freq", "batch", "mini_batch", "rollout_n", "val_n", "val_batch",
               "train_rows", "val_rows", "warm_steps")  # fmt: skip


def run_settings(spec: RunSpec, args: argparse.Namespace) -> dict:
    return {**asdict(spec), **{name: getattr(args, name) for name in RUN_OPTIONS}}


def run_folder(output_dir: Path, spec: RunSpec) -> Path:
    return output_dir / "runs" / spec.name


def metrics_folder(output_dir: Path, spec: RunSpec) -> Path:
    return run_folder(output_dir, spec) / "checkpoints" / "VideoSSR" / spec.name


#: verl's validation metrics: ``val-core/<task>/reward/mean@N`` (the reward the run trained on) and
#: ``val-aux/<task>/<key>/mean@N`` for every other key our reward returns (parsed, smooth, strict).
_VALIDATION_MEAN = re.compile(r"^val-(?:core|aux)/(?P<task>[^/]+)/(?P<key>[^/]+)/mean@\d+$")


def read_curve(output_dir: Path, spec: RunSpec) -> Curve | None:
    """The run's validation curve, or None when it has logged no validation yet."""
    from videossr.errors import ConfigError
    from videossr.report.training_curves import MEAN_VALIDATION, add_mean_validation, load_run

    try:
        run = load_run(metrics_folder(output_dir, spec))
    except ConfigError:
        return None
    add_mean_validation(run)  # the curves page's mean over tasks, the one rule for both
    points, tasks = {}, {}
    for step, values in run.steps.items():
        if MEAN_VALIDATION not in values:
            continue
        per_task: dict[str, dict[str, float]] = {}
        for name, value in values.items():
            match = _VALIDATION_MEAN.match(name)
            if match:
                per_task.setdefault(match["task"], {})[match["key"]] = value
        points[step], tasks[step] = values[MEAN_VALIDATION], per_task
    if not points:
        return None
    record = read_record(output_dir, spec)
    start_answers = run_folder(output_dir, spec) / "validation" / f"{min(points)}.jsonl"
    return Curve(spec, points, tasks, record.get("wall_s"), record.get("peak_pss_gb"), sampling_error(start_answers))


def sampling_error(answers: Path) -> float | None:
    """The standard error of one validation's mean reward from its sampled answers (None: no file).

    ``answers`` is verl's dump of a validation (``trainer.validation_data_dir``): one JSON line per
    answer, with its ``reward`` and the ``uid`` of its question (``<question>_<i>_<j>``). With the
    questions fixed, the mean moves only by the sampling of each question's ``k`` answers: its
    variance is the sum over questions of ``s_q^2 / k`` (``s_q^2``, the sample variance of the
    question's rewards), over the number of questions squared. That is the mean over tasks' error
    when every task has as many questions (the benchmark's validation: a third each), and the one
    yardstick a single run has (the strict run: no seeds to spread).
    """
    if not answers.is_file():
        return None
    rewards: dict[str, list[float]] = {}
    for line in answers.read_text(encoding="utf-8").splitlines():
        answer = json.loads(line)
        rewards.setdefault(str(answer["uid"]).split("_")[0], []).append(float(answer["reward"]))
    if not rewards:
        return None
    variance = sum(statistics.variance(r) / len(r) for r in rewards.values() if len(r) > 1)
    return variance**0.5 / len(rewards)


def read_record(output_dir: Path, spec: RunSpec) -> dict:
    """The finished run's :data:`RECORD_NAME` (empty when it has none)."""
    path = run_folder(output_dir, spec) / RECORD_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


def mode_problems(curve: Curve) -> list[str]:
    """Where the reward a run was validated on is not its reward mode's key (empty: none).

    Proof that ``REWARD_MODE`` reaches the reward verl computes: every task's validation reward
    equals the mean of the key its mode names (``smooth`` or ``strict``) that our reward returns.
    """
    problems = []
    for step, per_task in sorted(curve.tasks.items()):
        for task, keys in sorted(per_task.items()):
            expected = keys.get(curve.spec.reward_mode)
            if expected is None or abs(keys["reward"] - expected) > 1e-6:
                problems.append(
                    f"{curve.spec.name} step {step} {task}: reward {keys['reward']:.4f}, "
                    f"{curve.spec.reward_mode} {expected if expected is None else round(expected, 4)}"
                )
    return problems


def task_changes(curve: Curve) -> str:
    """Each task's reward and share of parsed answers, first validation -> last."""
    first, last = curve.tasks[min(curve.tasks)], curve.tasks[max(curve.tasks)]
    parts = []
    for task in sorted(first):
        if task in last:
            a, b = first[task], last[task]
            parsed = f" (parsed {a['parsed']:.2f} -> {b['parsed']:.2f})" if "parsed" in a and "parsed" in b else ""
            parts.append(f"{task} {a['reward']:.3f} -> {b['reward']:.3f}{parsed}")
    return ", ".join(parts)


def train(output_dir: Path, spec: RunSpec, model: Path, data: Path, args: argparse.Namespace) -> Curve:
    """One GRPO run (skipped when a finished one is there); its validation curve."""
    done = read_curve(output_dir, spec)
    if done is not None and read_record(output_dir, spec).get("settings") == run_settings(spec, args):
        print(f"[learn] {spec.name}: finished earlier with these settings, read from its metrics", flush=True)
        return done
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "CUDA_VISIBLE_DEVICES")}
    env.update(
        MODEL_FAMILY=args.family,
        MODEL_PATH=str(model),
        DATA_DIR=str(data),
        TRAIN_FILES=str(data / "train.parquet"),
        VAL_FILE=str(data / "val.parquet"),
        RUN_DIR=str(run_folder(output_dir, spec)),
        EXPERIMENT_NAME=spec.name,
        REWARD="task",
        REWARD_MODE=spec.reward_mode,
        STEPS=str(args.steps),
        # Enough passes over the training file for every step (verl stops at the data's end).
        TOTAL_EPOCHS=str(-(-args.steps * args.batch // args.train_rows)),
        TEST_FREQ=str(args.test_freq),
        VAL_BEFORE_TRAIN="True",
        SAVE_FREQ="-1",
        TRAIN_CHECKS_ARGS="--no-checkpoint",  # smoke_cpu.sh's other training checks still run
        LR=str(spec.lr),
        TRAIN_BATCH_SIZE=str(args.batch),
        PPO_MINI_BATCH_SIZE=str(args.mini_batch),
        ROLLOUT_N=str(args.rollout_n),
        PARITY="0",
    )
    overrides = [
        f"data.seed={spec.seed}",
        f"actor_rollout_ref.rollout.seed={spec.seed}",
        f"actor_rollout_ref.actor.data_loader_seed={spec.seed}",
        # Sampled validation: the start has seed-to-seed spread, the yardstick of a rise.
        "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
        "actor_rollout_ref.rollout.val_kwargs.temperature=1.0",
        f"actor_rollout_ref.rollout.val_kwargs.n={args.val_n}",
        # Validated a batch of prompts at a time, not all at once: verl's agent-loop worker holds
        # every answer's frames and pixels (~50 MB each here; 120 answers at once was 6.4 GB).
        f"data.val_batch_size={args.val_batch}",
        # Every validation answer with its reward, one JSON line each: <run>/validation/<step>.jsonl.
        f"trainer.validation_data_dir={run_folder(output_dir, spec) / 'validation'}",
    ]
    print(f"[learn] {spec.name}: {args.steps} GRPO steps, lr {spec.lr:g}, {spec.reward_mode} reward", flush=True)
    log = run_folder(output_dir, spec) / "train.log"
    # Its own session, so that a hung run is stopped whole, Ray's processes included, and nothing
    # else is touched.
    run_folder(output_dir, spec).mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)  # an earlier run's log must not be read as this one's
    (run_folder(output_dir, spec) / RECORD_NAME).unlink(missing_ok=True)  # nor its record, should this one fail
    started = time.time()
    # smoke_cpu.sh's own lines (its step summaries and training checks) go to smoke.log; verl's to train.log.
    with open(run_folder(output_dir, spec) / "smoke.log", "wb") as smoke_log:
        process = subprocess.Popen(
            ["bash", str(SMOKE_SCRIPT), *overrides],
            env=env,
            stdout=smoke_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        finished = wait_for_run(process, log, args.run_timeout)
    except RunStuck as stuck:
        raise SystemExit(f"[learn] {spec.name} {stuck}; its log: {log}") from None
    finally:
        kill_session(process.pid)  # Ray's processes outlive a finished driver for a moment
        process.wait()
        remove_orphaned_shared_memory(started)  # what the killed processes left in /dev/shm (RAM)
    curve = read_curve(output_dir, spec)
    if finished.returncode != 0 or curve is None:
        raise SystemExit(f"[learn] {spec.name} failed (exit {finished.returncode}); its log: {log}")
    record = {
        "settings": run_settings(spec, args),
        "wall_s": round(finished.wall_s, 1),
        "peak_pss_gb": round(finished.peak_pss_gb, 2),
    }
    (run_folder(output_dir, spec) / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    print(f"[learn] {spec.name}: {record['wall_s']:.0f} s, peak PSS {record['peak_pss_gb']:.1f} GB", flush=True)
    return read_curve(output_dir, spec)


class RunStuck(Exception):
    """A run that can no longer finish: it ran past its time, or Ray killed one of its workers."""


#: What Ray's memory monitor logs when it kills a worker. verl then waits forever for the
#: worker's answers (seen: a validation stuck at "running: 11, finished: 19" for 10 minutes).
RAY_OOM_KILL = "killed due to memory pressure"


@dataclass
class Finished:
    """A run's exit status, wall time (s) and peak memory (GB: the summed PSS of its processes)."""

    returncode: int
    wall_s: float
    peak_pss_gb: float


def wait_for_run(process: subprocess.Popen, log: Path, timeout_s: float, poll_s: float = 5.0) -> Finished:
    """Wait for ``process`` (the leader of its own session), sampling its session's memory every
    ``poll_s``; raises :class:`RunStuck` on a timeout or a worker killed for memory."""
    start = time.monotonic()
    deadline, offset, tail, peak_kb = start + timeout_s, 0, "", 0
    while True:
        peak_kb = max(peak_kb, session_pss_kb(process.pid))
        try:
            returncode = process.wait(timeout=poll_s)
            return Finished(returncode, time.monotonic() - start, peak_kb / 2**20)
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            raise RunStuck(f"hung: stopped after {timeout_s:g} s")
        if not log.is_file():
            continue
        with open(log, "rb") as handle:  # only what was written since the last look
            if handle.seek(0, os.SEEK_END) < offset:
                offset, tail = 0, ""  # the log was started again
            handle.seek(offset)
            new = handle.read()
        offset += len(new)
        text = tail + new.decode(errors="replace")
        tail = text[-len(RAY_OOM_KILL) :]  # a message split between two looks is still found
        if RAY_OOM_KILL in text:
            raise RunStuck(
                "stopped: Ray killed a worker for lack of memory (verl would wait for it forever); "
                "free memory (another training run, a test suite?) and run it again"
            )


def describe(curve: Curve) -> str:
    text = f"{curve.spec.name}: " + ", ".join(f"step {s} {v:.3f}" for s, v in sorted(curve.points.items()))
    notes = []
    if curve.start_error is not None:
        notes.append(f"start's sampling error {curve.start_error:.3f}")
    if curve.wall_s is not None and curve.peak_pss_gb is not None:
        notes.append(f"{curve.wall_s:.0f} s, peak PSS {curve.peak_pss_gb:.1f} GB")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def verdict(seeds: list[Curve], control: Curve | None, strict: Curve | None = None) -> tuple[str, bool]:
    """The verdict line and whether the policy learned (module docstring)."""
    starts, ends = [c.start for c in seeds], [c.end for c in seeds]
    spread = statistics.stdev(starts) if len(starts) > 1 else 0.0
    rise = statistics.mean(ends) - statistics.mean(starts)
    learned = len(seeds) > 1 and rise > 3 * spread and rise > 0
    if len(seeds) > 1:
        text = (
            f"learning: start {statistics.mean(starts):.3f}±{spread:.3f} -> "
            f"end {statistics.mean(ends):.3f}±{statistics.stdev(ends):.3f} "
            f"mean validation reward over {len(seeds)} seeds"
        )
    else:  # no spread: the run's own sampling error is the only yardstick there is
        error = "" if seeds[0].start_error is None else f" (sampling error {seeds[0].start_error:.3f})"
        text = f"learning: start {starts[0]:.3f}{error} -> end {ends[0]:.3f} mean validation reward of 1 seed"
    if control is not None:
        flat = abs(control.end - control.start) <= max(3 * spread, 1e-9)
        learned = learned and flat
        text += f"; control {control.start:.3f} -> {control.end:.3f}{'' if flat else ' (not flat)'}"
    if strict is not None:
        # One run, no seeds: its yardstick is its own start's sampling error. Reported, not part
        # of the verdict (module docstring).
        error = strict.start_error
        if error is None:
            outcome = "no validation answers to measure its error"
        else:
            rose = strict.end - strict.start > 3 * error
            outcome = f"{'rose' if rose else 'no rise'}: 3 sampling errors {3 * error:.3f}"
        text += f"; strict {strict.start:.3f} -> {strict.end:.3f} ({outcome})"
    if len(seeds) < 2:
        return text + "; no verdict (one seed has no spread: a quick look)", False
    return text + f"; {'learned' if learned else 'did not learn'}", learned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "outputs" / "learn_cpu")
    parser.add_argument("--family", default="qwen3_vl", choices=["qwen3_vl", "qwen2_5_vl"])
    parser.add_argument("--seeds", type=int, default=3, help="GRPO runs of different seeds (1: a quick look)")
    parser.add_argument("--steps", type=int, default=16, help="GRPO steps per run")
    parser.add_argument("--test-freq", type=int, default=8, help="validate every this many steps (and before)")
    parser.add_argument("--lr", type=float, default=1e-3, help="the actor's learning rate")
    parser.add_argument("--batch", type=int, default=8, help="prompts per step")
    parser.add_argument(
        "--mini-batch", type=int, default=4,
        help="prompts per actor update (verl's ppo_mini_batch_size): batch / mini-batch Adam steps per GRPO step",
    )  # fmt: skip
    parser.add_argument("--rollout-n", type=int, default=8, help="answers per prompt (GRPO's group)")
    parser.add_argument("--val-n", type=int, default=8, help="sampled answers per validation question")
    parser.add_argument("--val-batch", type=int, default=6, help="validation questions a batch")
    parser.add_argument("--train-rows", type=int, default=96)
    parser.add_argument("--warm-steps", type=int, default=600, help="supervised warm-start steps")
    parser.add_argument("--val-rows", type=int, default=48, help="validation questions, a third per task")
    parser.add_argument("--control", action=argparse.BooleanOptionalAction, default=True, help="a run with lr 0")
    parser.add_argument("--run-timeout", type=int, default=1800, help="hang guard of one run, seconds")
    parser.add_argument("--strict", action=argparse.BooleanOptionalAction, default=True, help="a strict-reward run too")
    args = parser.parse_args(argv)
    if args.mini_batch < 1 or args.batch % args.mini_batch:
        parser.error(f"--mini-batch {args.mini_batch} must divide --batch {args.batch} (verl's ppo_mini_batch_size)")
    # SIGTERM as an exception, so that the running run's session is stopped (train's finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    output_dir = args.output_dir.resolve()
    # In a process of its own: the warm start's torch and transformers (~0.7 GB) would otherwise
    # stay in this one through every run.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(prepare, output_dir, args.family, args.train_rows, args.val_rows, args.warm_steps)
        model, data = future.result()
    seeds = [train(output_dir, RunSpec(f"seed{s}", s, args.lr), model, data, args) for s in range(args.seeds)]
    control = train(output_dir, RunSpec("control-lr0", 0, 0.0), model, data, args) if args.control else None
    strict = (
        train(output_dir, RunSpec("strict-seed0", 0, args.lr, "strict"), model, data, args) if args.strict else None
    )
    curves = [*seeds, *(c for c in (control, strict) if c is not None)]
    lines = []
    for curve in curves:
        lines += [describe(curve), f"  {task_changes(curve)}"]
    problems = [problem for curve in curves for problem in mode_problems(curve)]
    modes = sorted({c.spec.reward_mode for c in curves})
    lines.append(
        f"reward mode: every validation reward is its run's mode's key ({', '.join(modes)}): "
        + ("ok" if not problems else "FAIL: " + "; ".join(problems[:5]))
    )
    text, learned = verdict(seeds, control, strict)
    print("\n".join(lines))
    from videossr.report.training_curves import build_page

    document, _ = build_page(
        [metrics_folder(output_dir, c.spec) for c in curves],
        title="GRPO on a warm-started tiny Qwen3-VL (train/learn_cpu.sh)",
        summary=[text, *lines],
    )
    (output_dir / "learning.html").write_text(document, encoding="utf-8")
    record = {
        "verdict": text,
        "reward_mode_problems": problems,
        "runs": {
            c.spec.name: {
                **asdict(c.spec),
                "curve": c.points,
                "tasks": c.tasks,
                "wall_s": c.wall_s,
                "peak_pss_gb": c.peak_pss_gb,
            }
            for c in curves
        },
    }
    (output_dir / "learning.json").write_text(json.dumps(record, indent=2) + "\n")
    print(output_dir / "learning.html")
    print(text)
    return 0 if (learned or args.seeds < 2) and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
