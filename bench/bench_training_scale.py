"""Wall time and peak memory of verl's real GRPO run on this machine, per configuration, in one session.

Each configuration is ``train/smoke_cpu.sh`` (tiny model, demo mix, 4 prompts x 2 answers a step,
the training checks at the end) started in a session of its own:

    1 rank         2 steps, one FSDP rank and one vLLM replica (the single-rank baseline)
    2 ranks        GPUS_PER_NODE=2: two FSDP2 ranks over gloo, two replicas, one Ray node
    2 nodes        NNODES=2: two Ray nodes on loopback addresses, one rank and one replica each
    2 nodes+resume NNODES=2 RESUME_CHECK=1: 4 steps, SIGKILL after the step-2 checkpoint, resume

and measured from outside: wall time from start to exit, and peak memory sampled every second as
(a) the summed proportional set size (PSS: shared pages split among their users, so libraries and
Ray's shared-memory object store count once) of every process descended from the run, and (b) the
machine's used memory above what it was before the run. Ratios are to the 1-rank run of the same
invocation. Nothing else should run meanwhile (2 cores: any other load lengthens every time).

Run:
    .venv/bin/python bench/bench_training_scale.py                    # tiny Qwen3-VL; after scripts/demo.sh, ~15 min
    .venv/bin/python bench/bench_training_scale.py --family qwen2_5_vl --only "1 rank" "2 ranks"
    .venv/bin/python bench/bench_training_scale.py --smoke            # the measuring on stand-in processes (1 and
                                                                      # 2 of ~100 MB each), not training: a check
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from videossr.testing.sessions import pss_kb

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "train" / "smoke_cpu.sh"
CONFIGURATIONS = {
    "1 rank": {},
    "2 ranks": {"GPUS_PER_NODE": "2"},
    "2 nodes": {"NNODES": "2"},
    "2 nodes+resume": {"NNODES": "2", "RESUME_CHECK": "1"},
}


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (by parent id), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def used_kb() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])


#: --smoke: the same measuring on stand-in process trees, one or two processes holding ~100 MB each.
SMOKE_CONFIGURATIONS = {"1 rank": {"STAND_IN_PROCESSES": "1"}, "2 ranks": {"STAND_IN_PROCESSES": "2"}}
STAND_IN = (
    "import os, subprocess, sys, time\n"
    "n = int(os.environ['STAND_IN_PROCESSES'])\n"
    "hold = 'import time; b = bytearray(100 * 2**20); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(3)'\n"
    "children = [subprocess.Popen([sys.executable, '-c', hold]) for _ in range(n)]\n"
    "sys.exit(max(c.wait() for c in children))\n"
)


def measure(env: dict[str, str], log: Path, command: list[str] | None = None) -> dict[str, float]:
    """Run ``command`` (smoke_cpu.sh) with ``env``; wall seconds, peak tree PSS and peak use above baseline (GB)."""
    baseline = used_kb()
    peak = {"pss": 0, "used": 0}
    with open(log, "wb") as out:
        start = time.monotonic()
        process = subprocess.Popen(
            command or ["bash", str(SMOKE)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak["pss"] = max(peak["pss"], sum(pss_kb(pid) for pid in descendants(process.pid)))
                peak["used"] = max(peak["used"], used_kb() - baseline)
                done.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        status = process.wait()
        wall = time.monotonic() - start
        done.set()
        sampler.join()
    text = log.read_text(errors="replace")
    checks = [line for line in text.splitlines() if line.startswith("training check:")]
    return {
        "status": status,
        "wall_s": wall,
        "pss_gb": peak["pss"] / 2**20,
        "used_gb": peak["used"] / 2**20,
        "checks_ok": sum(line.endswith(" ok") for line in checks),
        "checks": len(checks),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="qwen3_vl", choices=["qwen3_vl", "qwen2_5_vl"])
    parser.add_argument("--only", nargs="*", default=None, choices=list(CONFIGURATIONS))
    parser.add_argument("--smoke", action="store_true", help="measure stand-in processes, not training")
    args = parser.parse_args(argv)
    configurations = SMOKE_CONFIGURATIONS if args.smoke else CONFIGURATIONS
    names = [n for n in (args.only or configurations) if n in configurations]
    command = [sys.executable, "-c", STAND_IN] if args.smoke else None
    results = {}
    with tempfile.TemporaryDirectory(prefix="videossr-scale-") as scratch:
        for name in names:
            env = {
                **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
                "MODEL_FAMILY": args.family,
                "RUN_DIR": str(Path(scratch) / name.replace(" ", "_").replace("+", "_")),
                "PARITY": "0",
                "LR": "1e-2",
                **configurations[name],
            }
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            results[name] = measure(env, Path(scratch) / f"{name.replace(' ', '_')}.log", command)
            print(f"[bench] {name}: {results[name]}", file=sys.stderr, flush=True)
    base = results.get("1 rank")
    columns = "exit | checks ok | wall s | peak PSS GB | peak used GB | wall ratio | PSS ratio"
    print(f"| configuration ({args.family}) | {columns} |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        wall_ratio = f"{r['wall_s'] / base['wall_s']:.2f}" if base else "-"
        pss_ratio = f"{r['pss_gb'] / base['pss_gb']:.2f}" if base and base["pss_gb"] else "-"
        print(
            f"| {name} | {r['status']} | {r['checks_ok']}/{r['checks']} | {r['wall_s']:.0f} | {r['pss_gb']:.1f} "
            f"| {r['used_gb']:.1f} | {wall_ratio} | {pss_ratio} |"
        )
    return 0 if all(r["status"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
