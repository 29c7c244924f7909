"""The checks that end ``train/smoke_cpu.sh``: one line per check, ending in ``ok`` or ``FAIL``.

Read from what a run left behind: verl's metrics file log (``<run>/metrics/*.jsonl``), the probe
folder of :mod:`videossr.testing.train_probe`, and the checkpoints. Usage::

    python -m videossr.testing.train_checks --run-folder RUN --probe PROBE --steps 4 --batch 4 --rollout-n 2 \\
        [--nodes 2] [--resumed-from 2] [--reference-probe OTHER_PROBE --reference-run-folder OTHER_RUN]

Exit status 1 when any check FAILs. The checks:

* ``steps``: verl logged every step 1..N (a run killed and resumed: the launches together);
* ``correlation``: at every step, every rank's vLLM-vs-actor token-probability correlation on its
  own rows (the probe) is at least :data:`MIN_CORRELATION`, and so is verl's whole-batch value;
* ``rows``: at every step, each rank trained on its own samples (no sample on two ranks), and
  together on the whole batch: ``batch`` rows x ``rollout_n`` answers each;
* ``weights``: at every sync, every rank sent the same gathered state, every rollout replica
  received exactly it (SHA-256 of the stream), the replicas serve identical parameters, and what
  they serve changes after each update;
* ``checkpoint``: the last step's Hugging Face folder loads in transformers and equals, bit for
  bit, the gathered actor: the per-rank FSDP2 shards of the same checkpoint put together;
* ``nodes`` (``--nodes`` > 1): the actor ranks and the rollout replicas ran on that many Ray nodes;
* ``resume`` (``--resumed-from K``): the second launch started at step K+1 from the step-K
  checkpoint, and no row of steps 1..K was trained again after it; with a reference run (the same
  command, uninterrupted), the same rows at every step and the final weights within
  :data:`RESUME_TOLERANCE`. The resumed launch's optimizer state at its first update and the
  weights it first syncs must be the checkpoint's, bit for bit (SHA-256).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

#: Lowest vLLM-vs-actor token-probability correlation accepted (the single-rank bound of the tests).
MIN_CORRELATION = 0.9
#: Largest elementwise difference of the final weights, resumed vs uninterrupted, at the smoke runs'
#: lr 1e-2 after 4 steps. Rollouts are sampled anew in every run (vLLM's sampling is not seeded per
#: request), so two *uninterrupted* runs of one seed already differ by up to 0.078 (mean 0.025;
#: measured 2026-12-07), and a resume differs by as much (0.079). This bound only rules out gross
#: divergence; that the resume is exact is checked on the restored weights and optimizer state.
RESUME_TOLERANCE = 0.1


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"training check: {self.name}: {self.detail} {'ok' if self.ok else 'FAIL'}"


def read_records(probe: Path, kind: str) -> list[dict]:
    records = []
    for path in sorted(probe.glob(f"{kind}-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
    return sorted(records, key=lambda r: r["time"])


def read_metrics(run_folder: Path) -> dict[int, dict]:
    """verl's file-logged metrics by step; a later launch's line for a step wins."""
    steps: dict[int, dict] = {}
    for path in sorted((run_folder / "metrics").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a launch killed while writing
            if isinstance(entry, dict) and "step" in entry:
                steps[int(entry["step"])] = entry.get("data", entry)
    return steps


def check_steps(metrics: dict[int, dict], steps: int, resumed_from: int | None) -> Check:
    wanted = set(range(1, steps + 1))
    # A launch killed right after its step-K checkpoint may not have logged step K's line.
    optional = {resumed_from} if resumed_from else set()
    missing = sorted(wanted - set(metrics) - optional)
    return Check("steps", not missing, f"verl logged steps {sorted(set(metrics) & wanted)} of 1..{steps}")


def check_correlation(probe: Path, metrics: dict[int, dict], steps: int) -> Check:
    by_step: dict[int, dict[int, float | None]] = defaultdict(dict)
    errors = []
    for record in read_records(probe, "logprobs"):
        by_step[record["step"]][record["rank"]] = record["correlation"]
        if record.get("error"):
            errors.append(record["error"])
    shown, bad = [], []
    for step in range(1, steps + 1):
        ranks = by_step.get(step, {})
        values = [ranks[r] for r in sorted(ranks)]
        batch = metrics.get(step, {}).get("training/rollout_actor_probs_pearson_corr")
        shown.append(f"{step}: " + "/".join("?" if v is None else f"{v:.4f}" for v in values))
        if not values or any(v is None or v < MIN_CORRELATION for v in values):
            bad.append(step)
        if batch is not None and batch < MIN_CORRELATION:
            bad.append(step)
    detail = f"per rank, step {'; '.join(shown)} (bound {MIN_CORRELATION})"
    if errors:
        detail += f"; probe error: {errors[0]}"
    return Check("correlation", not bad and not errors, detail)


def check_rows(probe: Path, steps: int, batch: int, rollout_n: int) -> Check:
    by_step: dict[int, dict[int, list[tuple[str, int]]]] = defaultdict(lambda: defaultdict(list))
    for record in read_records(probe, "rows"):
        samples = [(row["row"], row["session"]) for row in record["rows"] if not row["padding"]]
        # A resumed launch trains steps again only if it replays; the last record per rank wins.
        by_step[record["step"]][record["rank"]] = samples
    problems, shares = [], []
    for step in range(1, steps + 1):
        ranks = by_step.get(step)
        if not ranks:
            problems.append(f"step {step}: no rank recorded its rows")
            continue
        everything = [sample for rank in sorted(ranks) for sample in ranks[rank]]
        rows = {row for row, _ in everything}
        shares.append("+".join(str(len(ranks[r])) for r in sorted(ranks)))
        if len(everything) != len(set(everything)):
            problems.append(f"step {step}: a sample was trained on two ranks")
        if len(rows) != batch or len(everything) != batch * rollout_n:
            problems.append(
                f"step {step}: {len(rows)} rows x answers = {len(everything)} samples, not {batch} x {rollout_n}"
            )
    detail = f"samples per rank at steps 1..{steps}: {', '.join(shares)}"
    return Check("rows", not problems, detail + ("; " + "; ".join(problems) if problems else ""))


def check_weights(probe: Path, learning_rate: float | None = None) -> Check:
    """Every sync: one gathered state, received by every replica, served identically by them.

    After each update the served parameters must change, unless ``learning_rate`` is 0 (a control
    run), when they must stay the same.
    """
    sent, received = read_records(probe, "sent"), read_records(probe, "received")
    if not sent or not received:
        return Check("weights", False, f"{len(sent)} sent and {len(received)} received syncs recorded")
    # One sync at each launch's start (its step: 0, or the step it resumed from), one after each update.
    by_step: dict[int, list[dict]] = defaultdict(list)
    for record in sent:
        by_step[record["step"]].append(record)
    problems = []
    digests_in_order = []
    for step in sorted(by_step):
        digests = {r["digest"] for r in by_step[step]}
        if len(digests) != 1:
            problems.append(f"sync {step}: ranks sent {len(digests)} different states")
        digests_in_order.append(next(iter(digests)))
    received_digests = {r["digest"] for r in received}
    lost = [d[:8] for d in digests_in_order if d not in received_digests]
    if lost:
        problems.append(f"sent states {lost} never reached a replica")
    per_digest: dict[str, set[str]] = defaultdict(set)
    replicas_per_digest: dict[str, int] = defaultdict(int)
    sent_digests = set(digests_in_order)
    for record in received:
        if record["digest"] not in sent_digests:
            problems.append(f"replica {record['replica']} received a state no rank sent")
        per_digest[record["digest"]].add(record["served"])
        replicas_per_digest[record["digest"]] += 1
    split = [d[:8] for d, served in per_digest.items() if len(served) != 1]
    if split:
        problems.append(f"replicas given the same state serve different parameters ({split})")
    served_in_order = [next(iter(per_digest[d])) for d in digests_in_order if len(per_digest.get(d, ())) == 1]
    unchanged = sum(1 for a, b in zip(served_in_order, served_in_order[1:]) if a == b)
    frozen = learning_rate is not None and learning_rate == 0
    if frozen and unchanged != len(served_in_order) - 1:
        problems.append("the served parameters changed although the learning rate is 0")
    if not frozen and unchanged:
        problems.append(f"{unchanged} syncs left the served parameters unchanged")
    counts = sorted(set(replicas_per_digest.values()))
    detail = (
        f"{len(by_step)} syncs (steps {sorted(by_step)}), each rank's gathered state = what "
        f"{'/'.join(map(str, counts))} replica(s) received and serve"
    )
    return Check("weights", not problems, detail + ("; " + "; ".join(problems) if problems else ""))


def _global_step_dirs(run_folder: Path) -> list[Path]:
    return sorted(run_folder.glob("global_step_*"), key=lambda p: int(p.name.rsplit("_", 1)[1]))


def _load_state(folder: Path) -> dict:
    from safetensors.torch import load_file

    state = {}
    for path in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(path)))
    return state


def gather_shards(actor: Path) -> tuple[dict, int]:
    """The full actor state from verl's per-rank FSDP2 files: each DTensor's local shards in rank order.

    ``model_world_size_W_rank_r.pt`` holds rank r's ``DTensor`` shards (``Shard(d)`` placements);
    concatenating them along ``d`` in rank order is the gathered tensor, in the master dtype
    (verl's ``model_merger`` does the same and then casts to the config's dtype).
    """
    import torch

    shards = sorted(actor.glob("model_world_size_*_rank_*.pt"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    states = [torch.load(path, map_location="cpu", weights_only=False) for path in shards]
    gathered = {}
    for name, first in states[0].items():
        placements = getattr(first, "placements", None)
        if placements is None:
            gathered[name] = first
            continue
        dim = next((p.dim for p in placements if hasattr(p, "dim")), None)
        locals_ = [state[name].to_local() for state in states]
        gathered[name] = locals_[0] if dim is None else torch.cat(locals_, dim=dim)
    return gathered, len(shards)


def check_checkpoint(run_folder: Path) -> Check:
    import torch
    import transformers

    steps = _global_step_dirs(run_folder)
    if not steps:
        return Check("checkpoint", False, f"no global_step_* under {run_folder}")
    actor = steps[-1] / "actor"
    hf = actor / "huggingface"
    try:
        model = transformers.AutoModelForImageTextToText.from_pretrained(str(hf), dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 - the finding
        return Check("checkpoint", False, f"{hf} does not load in transformers: {type(exc).__name__}: {exc}")
    gathered, ranks = gather_shards(actor)
    # Compared with what transformers loaded, under the model's own parameter names (a saved
    # Qwen2.5-VL folder uses the checkpoint's older names, e.g. ``model.layers`` for
    # ``model.language_model.layers``, which loading maps back).
    saved = {name: tensor.detach() for name, tensor in model.state_dict().items()}
    differing = [n for n in gathered if n not in saved or not torch.equal(gathered[n].to(saved[n].dtype), saved[n])]
    ok = bool(gathered) and not differing and set(saved) == set(gathered)
    detail = (
        f"{steps[-1].name}: the {ranks} ranks' FSDP shards gathered = {len(gathered)} tensors, bit-equal to the "
        f"saved Hugging Face folder as transformers loads it ({type(model).__name__}, float32)"
    )
    if not ok:
        detail = (
            f"{steps[-1].name}: {len(differing)} gathered tensors differ from the saved folder as loaded "
            f"({len(gathered)} vs {len(saved)} tensors), e.g. {differing[:3]}"
        )
    return Check("checkpoint", ok, detail)


#: Ray's prefix of a worker's log line: ``(Class pid=N)`` on the driver's node, ``(Class pid=N, ip=A)`` elsewhere.
RAY_LOG_PREFIX = re.compile(r"\((\w+) pid=(\d+)(?:, ip=([\d.]+))?\)")


def check_nodes(probe: Path, log: Path | None, nodes: int, head_ip: str) -> Check:
    """Actor ranks (the probe's Ray node IP) and vLLM servers (Ray's log prefixes) on ``nodes`` nodes."""
    ranks = {r["rank"]: r.get("node") for r in read_records(probe, "rows")}
    servers: dict[str, str] = {}
    if log is not None and log.is_file():
        for match in RAY_LOG_PREFIX.finditer(log.read_text(errors="replace")):
            if match.group(1) == "vLLMHttpServer":
                servers[match.group(2)] = match.group(3) or head_ip
    rank_nodes, server_nodes = set(ranks.values()) - {None}, set(servers.values())
    detail = f"actor ranks on {dict(sorted(ranks.items()))}, {len(servers)} vLLM servers on {sorted(server_nodes)}"
    return Check("nodes", len(rank_nodes) >= nodes and len(server_nodes) >= nodes, detail)


def _rows_by_step(probe: Path) -> dict[int, list[tuple[str, int]]]:
    steps: dict[int, dict[int, list]] = defaultdict(dict)
    for record in read_records(probe, "rows"):
        steps[record["step"]][record["rank"]] = [(row["row"], row["session"]) for row in record["rows"]]
    return {step: sorted(s for rank in ranks.values() for s in rank) for step, ranks in steps.items()}


def _restored_state_problems(
    probe: Path, run_folder: Path, resumed_from: int, launches: list[int], steps_of: dict[int, set[int]]
) -> list[str]:
    """The resumed launch's optimizer (at its first update) and weights (at its first sync) against the checkpoint."""
    import torch

    from videossr.testing.train_probe import optimizer_digest

    problems = []
    actor = run_folder / f"global_step_{resumed_from}" / "actor"
    resumed_pids = {pid for pid in launches if steps_of[pid] and min(steps_of[pid]) > resumed_from}
    first_updates = [
        r for r in read_records(probe, "optimizer") if r["pid"] in resumed_pids and r["step"] == resumed_from + 1
    ]
    if not first_updates:
        problems.append("no rank of the resumed launch recorded its optimizer state")
    for record in first_updates:
        saved = actor / f"optim_world_size_{record['world']}_rank_{record['rank']}.pt"
        if not saved.is_file():
            problems.append(f"the checkpoint holds no optimizer state ({saved.name})")
            continue
        expected, tensors = optimizer_digest(torch.load(saved, map_location="cpu", weights_only=False))
        if record["digest"] != expected:
            problems.append(
                f"rank {record['rank']} resumed with another optimizer state ({record['tensors']} tensors) "
                f"than the checkpoint's ({tensors})"
            )
    # Weights: the state every rank sent at the resumed launch's first sync is the one the killed
    # launch held after that step (when it lived to sync it; the checkpoint check covers the files).
    sent = [r for r in read_records(probe, "sent") if r["step"] == resumed_from]
    if len({r["digest"] for r in sent}) > 1:
        problems.append(f"the resumed launch started from other weights than step {resumed_from}'s")
    return problems


def check_resume(
    probe: Path,
    run_folder: Path,
    resumed_from: int,
    steps: int,
    reference_probe: Path | None,
    reference_run_folder: Path | None,
) -> Check:
    records = read_records(probe, "rows")
    launches = sorted({r["pid"] for r in records}, key=lambda pid: min(r["time"] for r in records if r["pid"] == pid))
    by_pid = defaultdict(set)
    for record in records:
        by_pid[record["pid"]].add(record["step"])
    first_steps = sorted({s for pid in launches for s in by_pid[pid] if s <= resumed_from})
    later = sorted({s for pid in launches for s in by_pid[pid] if s > resumed_from})
    problems = []
    if later and min(later) != resumed_from + 1:
        problems.append(f"the resumed launch started at step {min(later)}")
    restored = _restored_state_problems(probe, run_folder, resumed_from, launches, by_pid)
    problems += restored
    rows = _rows_by_step(probe)
    before = {row for step in range(1, resumed_from + 1) for row, _ in rows.get(step, [])}
    after = {row for step in range(resumed_from + 1, steps + 1) for row, _ in rows.get(step, [])}
    replayed = before & after
    if replayed:
        problems.append(f"{len(replayed)} rows of steps 1..{resumed_from} trained again after the resume")
    detail = f"steps {first_steps} before the kill, {later} after, from global_step_{resumed_from}"
    if not restored:
        detail += ": its weights and optimizer state restored exactly (SHA-256)"
    if not replayed:
        detail += "; no row replayed"
    if reference_probe is not None:
        reference = _rows_by_step(reference_probe)
        differ = [
            s
            for s in range(1, steps + 1)
            if sorted(r for r, _ in rows.get(s, [])) != sorted(r for r, _ in reference.get(s, []))
        ]
        if differ:
            problems.append(f"rows differ from the uninterrupted run at steps {differ}")
        else:
            detail += f"; the uninterrupted run's rows at every step 1..{steps}"
    if reference_run_folder is not None:
        import torch

        ours = _load_state(_global_step_dirs(run_folder)[-1] / "actor" / "huggingface")
        theirs = _load_state(_global_step_dirs(reference_run_folder)[-1] / "actor" / "huggingface")
        worst = max(float((ours[n].float() - theirs[n].float()).abs().max()) for n in theirs)
        scale = max(float(theirs[n].float().abs().max()) for n in theirs)
        exact = all(torch.equal(ours[n], theirs[n]) for n in theirs)
        closeness = "identical" if exact else f"within {worst:.3g} (largest weight {scale:.3g})"
        detail += f"; final weights {closeness} of the uninterrupted run"
        if worst > RESUME_TOLERANCE:
            problems.append(f"final weights differ by {worst:.3g} > {RESUME_TOLERANCE}")
    return Check("resume", not problems, detail + ("; " + "; ".join(problems) if problems else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m videossr.testing.train_checks", description=__doc__.split("\n")[0])
    parser.add_argument("--run-folder", type=Path, required=True)
    parser.add_argument("--probe", type=Path, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--rollout-n", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--head-ip", default="127.0.0.1", help="the driver's node (Ray logs no ip= for it)")
    parser.add_argument("--log", type=Path, default=None, help="the run's console log (Ray's worker prefixes)")
    parser.add_argument("--resumed-from", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="the run's learning rate (0: weights must not change)")
    parser.add_argument(
        "--no-checkpoint", action="store_true", help="the run saves no checkpoint (SAVE_FREQ=-1): skip that check"
    )
    parser.add_argument("--reference-probe", type=Path, default=None)
    parser.add_argument("--reference-run-folder", type=Path, default=None)
    args = parser.parse_args(argv)
    metrics = read_metrics(args.run_folder)
    checks = [
        check_steps(metrics, args.steps, args.resumed_from),
        check_correlation(args.probe, metrics, args.steps),
        check_rows(args.probe, args.steps, args.batch, args.rollout_n),
        check_weights(args.probe, args.lr),
    ]
    if not args.no_checkpoint:
        checks.append(check_checkpoint(args.run_folder))
    if args.nodes > 1:
        checks.append(check_nodes(args.probe, args.log, args.nodes, args.head_ip))
    if args.resumed_from:
        checks.append(
            check_resume(
                args.probe,
                args.run_folder,
                args.resumed_from,
                args.steps,
                args.reference_probe,
                args.reference_run_folder,
            )
        )
    for check in checks:
        print(check.line(), flush=True)
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
