"""verl 0.9.1's real GRPO trainer, 2 steps on a CPU, for a tiny Qwen3-VL and a tiny Qwen2.5-VL.

``train/smoke_cpu.sh`` runs ``python -m verl.trainer.main_ppo`` through ``train/train.sh`` in the
CPU-vLLM environment (scripts/setup_vllm_cpu.sh): vLLM rollouts, our reward code, reference and
old log-probs, an FSDP2 actor update and the actor-to-vLLM weight sync, on data built here from
the test videos. The reward is the test-only ``videossr.testing.varied_reward`` (a random model
scores 0 on every real task, which would make every advantage 0). What a passing run proves:

* each step's rewards vary, its advantages are non-zero and its gradient norm is positive and
  finite, so the actor really received a policy gradient;
* vLLM generated with the actor's weights at every step: step 2 runs after an update with lr 1e-2,
  which moves the actor from the checkpoint vLLM started from by a KL of ~0.02 (``actor/kl_loss``),
  and the step compares vLLM's token probabilities with the actor's
  (``rollout_actor_probs_pearson_corr``: ~0.997 for both families at both steps here, a
  rollout-vs-actor KL of ~0.0004). An unsynced vLLM would keep the checkpoint's weights at step 2,
  a KL of ~0.02 from the actor: that much difference gave 0.70 in the bug below, and two tiny
  Qwen2.5-VL models of different seeds give -0.10. Before the recipe set
  ``rollout.load_format: auto``, Qwen2.5-VL gave 0.70 at step 1 (KL ~0.02): verl's default
  ``dummy`` start left vLLM 0.28's pixel-normalisation buffers (``input_norm``) random, and the
  weight sync sends parameters only (docs/training.md, "Rollouts see what the actor trains on").
  Qwen2.5-VL runs with its rows' real time spacing (0.16 s per temporal patch at 12.5 fps): the
  agent loop hands vLLM each video's metadata and puts the actor's rotary positions on vLLM's clock
  (``videossr.qwen_vl.rope``); before that, the rollout sampled at 2/24 s a patch and the actor
  trained at 1 s, and this test had to zero ``tokens_per_second`` to keep them apart from the weights;
* the saved actor differs from the initial checkpoint and is finite;
* verl's file logger wrote every step's metrics into the run folder's ``metrics/`` (what
  ``train/curves.py`` draws), equal to the console's;
* it ended on its own within a hard timeout (a failed weight sync hangs forever): on timeout the
  whole process session of the run is killed and the test fails with the log's end.

Skipped, with the reason, when the CPU-vLLM environment is not installed. ~3 min and ~8 GB per
model family on 2 cores.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from media import REPO_ROOT
from vllm_cpu import cpu_env, run_in_own_session, vllm_cpu_python

pytestmark = pytest.mark.slow

SMOKE_SCRIPT = REPO_ROOT / "train" / "smoke_cpu.sh"
STEPS = 4
#: Hang guard for one whole run (two Ray nodes, two launches, 4 steps, checkpoints): ~6 min normally.
TIMEOUT_S = 1500
STEP_LINE = re.compile(r"step:(\d+) - (.*)$")
#: Lowest vLLM-vs-actor token-probability correlation accepted (module docstring).
MIN_PROBS_CORR = 0.9


@pytest.fixture(scope="module")
def cpu_python() -> Path:
    return vllm_cpu_python()


@pytest.fixture(scope="module")
def mix_dir(frames_dir, tmp_path_factory) -> Path:
    """The six training files train.sh reads, built from the session's test videos."""
    from videossr.data.generation import GenerationSettings
    from videossr.data.mix import build_mix, get_recipe

    out = tmp_path_factory.mktemp("grpo_mix")
    build_mix(frames_dir, out, get_recipe("videossr-30k"), GenerationSettings(), reuse_videos=True)
    return out


def parse_step_metrics(output: str) -> dict[int, dict[str, float]]:
    """verl's console lines ``step:N - key:value - ...`` as {N: {key: value}} (numbers only)."""
    steps: dict[int, dict[str, float]] = {}
    for line in output.splitlines():
        match = STEP_LINE.search(line)
        if not match:
            continue
        metrics = {}
        for item in match.group(2).split(" - "):
            key, _, value = item.rpartition(":")
            number = re.fullmatch(r"(?:np\.\w+\()?([-+0-9.eE]+|nan|inf)\)?", value.strip())
            if key and number:
                metrics[key.strip()] = float(number.group(1))
        steps[int(match.group(1))] = metrics
    return steps


@pytest.mark.parametrize("lengths, verl_is_right", [((7, 9), True), ((8, 8), False)])
def test_verl_0_9_1_breaks_mrope_batches_whose_sequences_have_one_length(lengths, verl_is_right):
    """Why smoke_cpu.sh takes 4 prompts per step: a verl 0.9.1 bug, shown on verl's own functions.

    verl nests each sample's mRoPE ``position_ids`` (shape ``(4, L)``) with
    ``torch.nested.as_nested_tensor(..., layout=torch.jagged)`` (``verl/workers/utils/padding.py``),
    ships it between workers (``serialize_tensordict`` / ``deserialize_tensordict``) and forces the
    ragged dimension to the last one (``maybe_fix_3d_position_ids``). When all ``L`` are equal,
    torch makes the size-4 dimension ragged instead, and selecting a mini-batch returns ``(L, 4)``
    tensors (here) or raises "split_with_sizes expects split_sizes to sum exactly to ..." (in the
    trainer's actor update, seen on 4 sequences of 1,453 tokens). A random tiny model always
    answers ``max_response_length`` tokens, so two prompts of one length make such a batch. When
    the equal-length case comes out right, verl is fixed and the workaround can go.
    """
    import torch
    from tensordict import TensorDict
    from verl.protocol import deserialize_tensordict, serialize_tensordict
    from verl.utils.tensordict_utils import index_select_tensor_dict, maybe_fix_3d_position_ids

    position_ids = torch.nested.as_nested_tensor([torch.arange(4 * n).view(4, n) for n in lengths], layout=torch.jagged)
    batch = deserialize_tensordict(serialize_tensordict(TensorDict({"position_ids": position_ids}, batch_size=[2])))
    maybe_fix_3d_position_ids(batch)
    try:
        selected = index_select_tensor_dict(batch, [1, 0])["position_ids"].unbind()
        shapes = [tuple(t.shape) for t in selected]
    except RuntimeError as exc:
        shapes = [f"RuntimeError: {exc}"]
    assert (shapes == [(4, lengths[1]), (4, lengths[0])]) == verl_is_right, shapes


def read_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


#: The training checks every smoke run prints (videossr/testing/train_checks.py), without the optional ones.
BASE_CHECKS = {"steps", "correlation", "rows", "weights", "checkpoint"}


def run_smoke(run_dir: Path, *, cpu_python: Path, mix_dir: Path, model: Path, family: str, **env: str):
    """``train/smoke_cpu.sh`` in its own session with a hang guard; (the run, its training checks by name)."""
    settings = {
        "VIDEOSSR_VLLM_CPU_VENV": str(cpu_python.parents[1]),
        "MODEL_FAMILY": family,
        "MODEL_PATH": str(model),
        "DATA_DIR": str(mix_dir),
        "RUN_DIR": str(run_dir),
        # A large step, so that each rollout runs on weights far from the previous ones.
        "LR": "1e-2",
        # The parity check that ends the script is the module test_rollout_parity.py runs in this
        # stack (both families, all four tasks, verl's stock loop too): here it would repeat it.
        "PARITY": "0",
    }
    environment = cpu_env(**{**settings, **env})
    run_dir.mkdir(parents=True, exist_ok=True)
    run = run_in_own_session(
        ["bash", str(SMOKE_SCRIPT)],
        env=environment,
        timeout_s=TIMEOUT_S,
        log_path=run_dir.parent / f"{run_dir.name}.log",
    )
    assert not run.timed_out, f"the GRPO run did not finish within {TIMEOUT_S} s (killed):\n{run.tail()}"
    checks = {
        line.split(":")[1].strip(): line for line in run.output.splitlines() if line.startswith("training check:")
    }
    return run, checks


def assert_checks_hold(run, checks: dict[str, str], expected: set[str]) -> None:
    assert run.returncode == 0, f"smoke_cpu.sh exited with {run.returncode}:\n{run.tail()}"
    assert set(checks) == expected, f"checks {sorted(checks)}, expected {sorted(expected)}:\n{run.tail()}"
    assert all(line.endswith(" ok") for line in checks.values()), "\n".join(checks.values())


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_grpo_on_two_ray_nodes_killed_and_resumed_updates_actor_and_every_replica(
    family, cpu_python, mix_dir, tmp_path, tiny_model
):
    import torch

    model = tiny_model(family)
    run_dir = tmp_path / "run"
    # Two Ray nodes on loopback addresses, one rank and one vLLM replica each; 4 steps, the run
    # SIGKILLed after its step-2 checkpoint and started again: one start-up pays for the
    # two-rank, placement, weight-sync and resume checks.
    run, checks = run_smoke(
        run_dir,
        cpu_python=cpu_python,
        mix_dir=mix_dir,
        model=model,
        family=family,
        NNODES="2",
        RESUME_CHECK="1",
        STEPS=str(STEPS),
    )
    assert_checks_hold(run, checks, BASE_CHECKS | {"nodes", "resume"})
    assert "killed the run (SIGKILL) after its step-2 checkpoint" in run.output

    # Both launches' console lines are in the run's log; the first may have died before step 2's line.
    steps = parse_step_metrics((run_dir / "train.log").read_text(errors="replace"))
    assert {1, 3, 4} <= set(steps) <= set(range(1, STEPS + 1)), f"step metrics of {sorted(steps)}:\n{run.tail()}"
    for step, metrics in steps.items():
        where = f"step {step}: {metrics}"
        assert metrics["critic/score/max"] > metrics["critic/score/min"], where  # rewards vary
        assert metrics["critic/advantages/max"] > 0 > metrics["critic/advantages/min"], where
        assert math.isfinite(metrics["actor/grad_norm"]) and metrics["actor/grad_norm"] > 0, where
        assert metrics["response_length/mean"] > 0, where
        assert metrics["training/rollout_actor_probs_pearson_corr"] > MIN_PROBS_CORR, where

    # verl's file logger wrote the same metrics, one file per launch, into the run folder's
    # metrics/, and train/curves.py draws them (tests/report/test_training_curves.py checks the page).
    run_folder = run_dir / "checkpoints" / "VideoSSR" / f"smoke-cpu-{family}"
    from videossr.report.training_curves import build_page

    document, [curves] = build_page([run_folder])
    assert set(steps) <= set(curves.steps) and {3, 4} <= set(curves.steps) and len(curves.files) == 2
    for step, metrics in steps.items():
        for key in ("critic/score/mean", "actor/grad_norm", "actor/kl_loss", "timing_s/step"):
            assert curves.steps[step][key] == pytest.approx(metrics[key], rel=1e-3, abs=1e-3), (step, key)
    assert 'data-metric="actor/grad_norm"' in document

    saved = run_folder / f"global_step_{STEPS}" / "actor"
    before = read_safetensors(model / "model.safetensors")
    after = read_safetensors(saved / "huggingface" / "model.safetensors")
    assert set(after) == set(before)
    assert all(torch.isfinite(tensor).all() for tensor in after.values())
    changed = [name for name in before if not torch.equal(before[name].float(), after[name].float())]
    assert changed, "no weight of the actor changed in two GRPO steps"


# ------------------------------------------------------------------ the training-matrix lane
# bash scripts/test.sh --training-matrix: the configurations the suite's combined run leaves out.


@pytest.mark.training_matrix
@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_two_ranks_on_one_machine_train_on_a_split_batch_with_synced_replicas_and_parity(
    family, cpu_python, mix_dir, tmp_path, tiny_model
):
    run, checks = run_smoke(
        tmp_path / "run",
        cpu_python=cpu_python,
        mix_dir=mix_dir,
        model=tiny_model(family),
        family=family,
        GPUS_PER_NODE="2",
        STEPS="2",
        PARITY="1",
    )
    assert_checks_hold(run, checks, BASE_CHECKS)
    parity = [line for line in run.output.splitlines() if line.startswith("rollout parity:")]
    assert len(parity) == 4 and all(line.split()[4] == "ok" for line in parity), "\n".join(parity)


#: A mix the online dataset draws from (the frames folder has 7 videos: 4 epochs give 28 items).
ONLINE_MIX = "grounding/ChannelSwap=1;grounding/Mirror=1;counting/easy=1;jigsaw/6=1"


@pytest.mark.training_matrix
@pytest.mark.parametrize("online", [False, True], ids=["parquet", "online"])
@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_a_run_killed_and_resumed_on_two_ranks_matches_an_uninterrupted_run(
    family, online, cpu_python, mix_dir, frames_dir, tmp_path, tiny_model
):
    """Steps 3-4 after a SIGKILL and a resume: the rows and (within a stated tolerance) the weights of
    an uninterrupted run of the same seed. With ``ONLINE=1`` the reference is one rank with no
    dataloader worker and the resumed run two ranks with two workers, so the same rows also show
    that the online samples depend on the seed and the step only, not on the rank or worker count.
    """
    common = {"STEPS": "4", "SAVE_FREQ": "2"}
    if online:
        common.update(ONLINE="1", FRAMES_DIRS=str(frames_dir), ONLINE_MIX=ONLINE_MIX, TOTAL_EPOCHS="4")
    model = tiny_model(family)
    reference_dir = tmp_path / "reference"
    reference, checks = run_smoke(
        reference_dir,
        cpu_python=cpu_python,
        mix_dir=mix_dir,
        model=model,
        family=family,
        GPUS_PER_NODE="1" if online else "2",
        **common,
    )
    assert_checks_hold(reference, checks, BASE_CHECKS)
    reference_folder = reference_dir / "checkpoints" / "VideoSSR" / f"smoke-cpu-{family}"
    resumed, checks = run_smoke(
        tmp_path / "resumed",
        cpu_python=cpu_python,
        mix_dir=mix_dir,
        model=model,
        family=family,
        GPUS_PER_NODE="2",
        RESUME_CHECK="1",
        TRAIN_CHECKS_ARGS=f"--reference-probe {reference_dir / 'probe'} --reference-run-folder {reference_folder}",
        DATALOADER_WORKERS="2" if online else "0",
        **common,
    )
    assert_checks_hold(resumed, checks, BASE_CHECKS | {"resume"})
    assert "the uninterrupted run's rows at every step 1..4" in checks["resume"], checks["resume"]
    assert "of the uninterrupted run" in checks["resume"], checks["resume"]
