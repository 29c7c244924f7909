"""The training checks that end train/smoke_cpu.sh, and the probe they read, on records made here.

The real runs are tests/training/test_grpo_cpu.py; here each check must hold on a consistent
record and FAIL on the defect it exists for: a sample trained on two ranks, a replica that missed
a sync or serves other weights, a checkpoint that is not the gathered actor, a replayed row.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from media import REPO_ROOT

from videossr.testing import train_checks as tc


def write(probe: Path, kind: str, pid: int, *records: dict) -> None:
    probe.mkdir(parents=True, exist_ok=True)
    with open(probe / f"{kind}-{pid}.jsonl", "a", encoding="utf-8") as out:
        for k, record in enumerate(records):
            out.write(json.dumps({"kind": kind, "pid": pid, "time": record.pop("time", k), **record}) + "\n")


def rows(*samples: tuple[str, int]) -> list[dict]:
    return [{"row": row, "session": session, "padding": False} for row, session in samples]


def two_rank_step(probe: Path, step: int, first: list, second: list, pids=(10, 11), time: float = 0) -> None:
    write(
        probe,
        "rows",
        pids[0],
        {"rank": 0, "world": 2, "node": "127.0.0.8", "step": step, "rows": rows(*first), "time": time},
    )
    write(
        probe,
        "rows",
        pids[1],
        {"rank": 1, "world": 2, "node": "127.0.0.9", "step": step, "rows": rows(*second), "time": time},
    )


def test_rows_hold_for_a_split_batch_and_fail_for_a_sample_on_two_ranks(tmp_path):
    good = tmp_path / "good"
    two_rank_step(good, 1, [("a", 0), ("b", 0)], [("a", 1), ("b", 1)])
    check = tc.check_rows(good, steps=1, batch=2, rollout_n=2)
    assert check.ok and "2+2" in check.detail, check.line()

    twice = tmp_path / "twice"
    two_rank_step(twice, 1, [("a", 0), ("b", 0)], [("a", 0), ("b", 1)])
    assert not tc.check_rows(twice, steps=1, batch=2, rollout_n=2).ok
    short = tmp_path / "short"
    two_rank_step(short, 1, [("a", 0)], [("a", 1)])
    line = tc.check_rows(short, steps=1, batch=2, rollout_n=2).line()
    assert line.endswith("FAIL") and "not 2 x 2" in line


def test_correlation_is_judged_per_rank(tmp_path):
    write(
        tmp_path,
        "logprobs",
        10,
        {"rank": 0, "step": 1, "correlation": 0.99},
        {"rank": 0, "step": 2, "correlation": 0.99},
    )
    write(
        tmp_path,
        "logprobs",
        11,
        {"rank": 1, "step": 1, "correlation": 0.98},
        {"rank": 1, "step": 2, "correlation": 0.5},
    )
    check = tc.check_correlation(tmp_path, {}, steps=2)
    assert not check.ok and "0.5000" in check.detail
    assert tc.check_correlation(tmp_path, {}, steps=1).ok
    # verl's whole-batch value below the bound fails too, and a step no rank recorded.
    assert not tc.check_correlation(tmp_path, {1: {"training/rollout_actor_probs_pearson_corr": 0.7}}, steps=1).ok
    assert not tc.check_correlation(tmp_path, {}, steps=3).ok


def syncs(probe: Path, states: list[str], served: list[list[str]], received: list[list[str]] | None = None) -> None:
    """Two ranks send ``states`` (one per sync); replica r receives ``received[r]`` and serves ``served[r]``."""
    received = received or [states, states]
    for rank in (0, 1):
        write(
            probe,
            "sent",
            10 + rank,
            *[{"rank": rank, "replica": rank, "step": s, "digest": d, "time": s} for s, d in enumerate(states)],
        )
    for replica in (0, 1):
        write(
            probe,
            "received",
            20 + replica,
            *[
                {"replica": str(replica), "call": s + 1, "digest": d, "served": v, "time": s}
                for s, (d, v) in enumerate(zip(received[replica], served[replica]))
            ],
        )


def test_weights_hold_when_every_replica_gets_and_serves_each_new_state(tmp_path):
    syncs(tmp_path / "good", ["s0", "s1", "s2"], [["p0", "p1", "p2"], ["p0", "p1", "p2"]])
    check = tc.check_weights(tmp_path / "good")
    assert check.ok and "3 syncs" in check.detail, check.line()


@pytest.mark.parametrize(
    "served, received, why",
    [
        ([["p0", "p1", "p2"], ["p0", "q1", "p2"]], None, "serve different parameters"),
        ([["p0", "p1", "p1"], ["p0", "p1", "p1"]], None, "left the served parameters unchanged"),
        ([["p0", "p1"], ["p0", "p1"]], [["s0", "s1"], ["s0", "s1"]], "never reached a replica"),
        ([["p0", "p1", "p2"], ["p0", "p1", "p2"]], [["s0", "s1", "s2"], ["s0", "s1", "x2"]], "a state no rank sent"),
    ],
)
def test_weights_fail_for_a_stale_or_diverging_replica(tmp_path, served, received, why):
    syncs(tmp_path, ["s0", "s1", "s2"], served, received)
    check = tc.check_weights(tmp_path)
    assert not check.ok and why in check.detail, check.line()


def saved_optimizer(run_folder: Path, step: int, ranks: int = 2) -> str:
    """Write each rank's optimizer state into the checkpoint of ``step``; its digest."""
    import torch

    from videossr.testing.train_probe import optimizer_digest

    actor = run_folder / f"global_step_{step}" / "actor"
    actor.mkdir(parents=True, exist_ok=True)
    state = {"state": {0: {"step": torch.tensor(2.0), "exp_avg": torch.ones(3)}}, "param_groups": []}
    for rank in range(ranks):
        torch.save(state, actor / f"optim_world_size_{ranks}_rank_{rank}.pt")
    return optimizer_digest(state)[0]


def resumed_optimizer(probe: Path, digest: str, pids=(30, 31), step: int = 3) -> None:
    for rank, pid in enumerate(pids):
        write(
            probe, "optimizer", pid, {"rank": rank, "world": 2, "step": step, "digest": digest, "tensors": 2, "time": 3}
        )


def test_resume_needs_the_saved_optimizer_state_back(tmp_path):
    probe = tmp_path / "probe"
    two_rank_step(probe, 1, [("a", 0)], [("a", 1)], pids=(10, 11), time=1)
    two_rank_step(probe, 2, [("b", 0)], [("b", 1)], pids=(10, 11), time=2)
    two_rank_step(probe, 3, [("c", 0)], [("c", 1)], pids=(30, 31), time=3)
    digest = saved_optimizer(tmp_path, 2)
    resumed_optimizer(probe, "0" * 64)  # e.g. load_contents without the optimizer: a fresh state
    check = tc.check_resume(probe, tmp_path, 2, 3, None, None)
    assert not check.ok and "another optimizer state" in check.detail, check.line()
    resumed_optimizer(probe / "other", digest)
    assert not tc.check_resume(probe / "other", tmp_path, 2, 3, None, None).ok  # no rows there


def test_resume_fails_when_a_row_is_trained_again_and_compares_with_a_reference(tmp_path):
    digest = saved_optimizer(tmp_path, 2)
    probe = tmp_path / "probe"
    two_rank_step(probe, 1, [("a", 0)], [("a", 1)], pids=(10, 11), time=1)
    two_rank_step(probe, 2, [("b", 0)], [("b", 1)], pids=(10, 11), time=2)
    two_rank_step(probe, 3, [("c", 0)], [("c", 1)], pids=(30, 31), time=3)
    resumed_optimizer(probe, digest)
    reference = tmp_path / "reference"
    for step, row in ((1, "a"), (2, "b"), (3, "c")):
        two_rank_step(reference, step, [(row, 0)], [(row, 1)], time=step)
    check = tc.check_resume(probe, tmp_path, 2, 3, reference, None)
    assert check.ok and "the uninterrupted run's rows" in check.detail, check.line()

    replayed = tmp_path / "replayed"
    two_rank_step(replayed, 1, [("a", 0)], [("a", 1)], time=1)
    two_rank_step(replayed, 2, [("b", 0)], [("b", 1)], time=2)
    two_rank_step(replayed, 3, [("a", 0)], [("a", 1)], pids=(30, 31), time=3)
    resumed_optimizer(replayed, digest)
    check = tc.check_resume(replayed, tmp_path, 2, 3, None, None)
    assert not check.ok and "trained again" in check.detail
    assert not tc.check_resume(replayed, tmp_path, 2, 3, reference, None).ok


def test_the_checkpoint_must_be_the_gathered_shards_and_load_in_transformers(tmp_path, tiny_model):
    import torch
    from safetensors.torch import load_file

    model = tiny_model("qwen3_vl")
    actor = tmp_path / "run" / "global_step_2" / "actor"
    shutil.copytree(model, actor / "huggingface")
    state = load_file(str(model / "model.safetensors"))
    # Plain tensors stand in for one rank's state (a DTensor's shards are concatenated in rank order).
    torch.save(state, actor / "model_world_size_1_rank_0.pt")
    check = tc.check_checkpoint(tmp_path / "run")
    assert check.ok and "bit-equal" in check.detail, check.line()

    name = next(iter(state))
    state[name] = state[name] + 1e-3
    torch.save(state, actor / "model_world_size_1_rank_0.pt")
    check = tc.check_checkpoint(tmp_path / "run")
    assert not check.ok and name in check.detail, check.line()
    assert not tc.check_checkpoint(tmp_path / "none").ok


def test_nodes_need_ranks_and_vllm_servers_on_every_node(tmp_path):
    two_rank_step(tmp_path, 1, [("a", 0)], [("a", 1)])
    log = tmp_path / "train.log"
    log.write_text("(vLLMHttpServer pid=5) up\n(vLLMHttpServer pid=6, ip=127.0.0.9) up\n(WorkerDict pid=7) x\n")
    check = tc.check_nodes(tmp_path, log, nodes=2, head_ip="127.0.0.8")
    assert check.ok and "127.0.0.9" in check.detail, check.line()
    log.write_text("(vLLMHttpServer pid=5) up\n(vLLMHttpServer pid=6) up\n")
    assert not tc.check_nodes(tmp_path, log, nodes=2, head_ip="127.0.0.8").ok


@pytest.mark.slow
def test_the_probe_installs_itself_in_verls_worker_only_when_asked(tmp_path):
    code = "import verl.workers.engine_workers as m; print(m.ActorRolloutRefWorker.actor_worker_cls.__name__)"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "VERL_USE_EXTERNAL_MODULES": "videossr.testing.train_probe"}
    asked = subprocess.run(
        [sys.executable, "-c", code], env={**env, "VIDEOSSR_TRAIN_PROBE": str(tmp_path)}, capture_output=True, text=True
    )
    assert asked.stdout.split()[-1:] == ["ProbedTrainingWorker"], asked.stderr[-2000:]
    env.pop("VIDEOSSR_TRAIN_PROBE", None)
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert plain.stdout.split()[-1:] == ["TrainingWorker"], plain.stderr[-2000:]
    assert not any(tmp_path.iterdir())  # importing records nothing


def test_weights_of_a_learning_rate_0_control_must_not_change(tmp_path):
    syncs(tmp_path / "frozen", ["s0", "s0", "s0"], [["p0", "p0", "p0"], ["p0", "p0", "p0"]])
    assert tc.check_weights(tmp_path / "frozen", learning_rate=0.0).ok
    assert not tc.check_weights(tmp_path / "frozen", learning_rate=1e-4).ok
    syncs(tmp_path / "moved", ["s0", "s1", "s2"], [["p0", "p1", "p2"], ["p0", "p1", "p2"]])
    check = tc.check_weights(tmp_path / "moved", learning_rate=0.0)
    assert not check.ok and "learning rate is 0" in check.detail
