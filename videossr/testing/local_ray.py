"""A real multi-node Ray cluster on one machine, on loopback addresses: for tests, benchmarks and
trying the ``--ray`` route without a cluster.

From a shell (``train/smoke_cpu.sh`` with ``NNODES=2``), a command runs inside such a cluster with
``RAY_ADDRESS`` set, the way a cluster user runs ``train.sh`` on the head after ``ray start``::

    python -m videossr.testing.local_ray --nodes 2 --gpus-per-node 1 --head-ip 127.0.0.8 \
        --worker-ip 127.0.0.9 -- bash train/train.sh ...

The head (127.0.0.2) and worker nodes (127.0.0.3, 127.0.0.4) are separate ``ray start --block``
processes, each with its own CPU share and a private temporary folder. Each node is started in a
session of its own, so every process it spawns (GCS, raylet, workers) belongs to that session, and
stopping the cluster signals exactly those process groups — never a machine-wide ``ray stop``,
which would also kill any other Ray cluster on the machine (a user's training job included).
Loopback addresses other than 127.0.0.1 keep Ray from advertising the machine's network address.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HEAD_IP = "127.0.0.2"
WORKER_IPS = ("127.0.0.3", "127.0.0.4")
#: How long a node may take to exit after SIGTERM before its process group is killed.
STOP_GRACE_S = 10.0


def _ray_cli() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_env() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@contextmanager
def local_ray_cluster(
    num_nodes: int = 2,
    cpus_per_node: int = 1,
    gpus_per_node: int = 0,
    head_ip: str = HEAD_IP,
    worker_ips: tuple[str, ...] = WORKER_IPS,
):
    """Yield the address of a ``num_nodes``-node cluster (head included); stop its nodes afterwards.

    ``gpus_per_node`` > 0 declares that many Ray "GPU" slots per node (placeholders: verl places a
    rank per slot; nothing probes for a device). Only the processes this call started are stopped
    (their process groups: SIGTERM, then SIGKILL after :data:`STOP_GRACE_S`); Ray clusters started
    by anybody else keep running. The nodes inherit this process's environment.
    """
    if not 1 <= num_nodes <= 1 + len(worker_ips):
        raise ValueError(f"num_nodes must be in 1..{1 + len(worker_ips)}, got {num_nodes}")
    port = _free_port()
    address = f"{head_ip}:{port}"
    # Short: Ray puts Unix sockets below it, whose paths may not exceed ~107 bytes.
    temp_root = Path(tempfile.mkdtemp(prefix="vssr-ray-", dir="/tmp"))
    common = ["--num-cpus", str(cpus_per_node), "--num-gpus", str(gpus_per_node), "--disable-usage-stats", "--block"]
    nodes: list[subprocess.Popen] = []
    try:
        nodes.append(
            _start_node(
                ["--head", "--node-ip-address", head_ip, "--port", str(port), "--include-dashboard=false", *common],
                temp_root / "head",
            )
        )
        _wait_for_nodes(address, 1, nodes, head_ip)
        for k, ip in enumerate(worker_ips[: num_nodes - 1]):
            nodes.append(_start_node(["--address", address, "--node-ip-address", ip, *common], temp_root / f"w{k}"))
        _wait_for_nodes(address, num_nodes, nodes, head_ip)
        yield address
    finally:
        _stop_nodes(nodes)
        shutil.rmtree(temp_root, ignore_errors=True)


def _start_node(args: list[str], temp_dir: Path) -> subprocess.Popen:
    temp_dir.mkdir(parents=True)
    log = (temp_dir / "ray_start.log").open("wb")
    try:
        return subprocess.Popen(
            [_ray_cli(), "start", *args, "--temp-dir", str(temp_dir)],
            env=ray_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _stop_nodes(nodes: list[subprocess.Popen]) -> None:
    """SIGTERM each node's process group (workers first), then SIGKILL what is left of them."""
    for node in reversed(nodes):
        try:
            os.killpg(node.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and any(_group_alive(node.pid) for node in nodes):
        for node in nodes:
            node.poll()  # reap the `ray start` process itself once it exits
        time.sleep(0.1)
    for node in nodes:
        try:
            os.killpg(node.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        node.wait()


def _wait_for_nodes(
    address: str, num_nodes: int, nodes: list[subprocess.Popen], head_ip: str = HEAD_IP, timeout_s: float = 90
) -> None:
    script = (
        "import ray, sys; ray.init(address=sys.argv[1], _node_ip_address=sys.argv[2], log_to_driver=False); "
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        exited = [node for node in nodes if node.poll() is not None]
        if exited:
            raise RuntimeError(f"a Ray node of the local cluster at {address} exited (status {exited[0].returncode})")
        out = subprocess.run(
            [sys.executable, "-c", script, address, head_ip], env=ray_env(), capture_output=True, text=True
        )
        if out.stdout.strip().isdigit() and int(out.stdout.strip()) >= num_nodes:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {num_nodes} nodes in {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Run one command inside a fresh local cluster (``RAY_ADDRESS`` set); its exit status is ours."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m videossr.testing.local_ray", description=main.__doc__)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus-per-node", type=int, default=16)
    parser.add_argument("--gpus-per-node", type=int, default=0)
    parser.add_argument("--head-ip", default=HEAD_IP)
    parser.add_argument("--worker-ip", action="append", default=None, help="one per worker node")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    # SIGTERM (a hang guard, a CI timeout) must still stop the nodes: turn it into an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with local_ray_cluster(
        args.nodes, args.cpus_per_node, args.gpus_per_node, args.head_ip, tuple(args.worker_ip or WORKER_IPS)
    ) as address:
        print(f"local_ray: {args.nodes} node(s) at {address}", file=sys.stderr, flush=True)
        return subprocess.run(command, env={**ray_env(), "RAY_ADDRESS": address}).returncode


if __name__ == "__main__":
    sys.exit(main())
