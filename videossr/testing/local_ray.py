"""A real multi-node Ray cluster on one machine, on loopback addresses: for tests, benchmarks and
trying the ``--ray`` route without a cluster.

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
def local_ray_cluster(num_nodes: int = 2, cpus_per_node: int = 1):
    """Yield the address of a ``num_nodes``-node cluster (head included); stop its nodes afterwards.

    Only the processes this call started are stopped (their process groups: SIGTERM, then SIGKILL
    after :data:`STOP_GRACE_S`); Ray clusters started by anybody else keep running.
    """
    if not 1 <= num_nodes <= 1 + len(WORKER_IPS):
        raise ValueError(f"num_nodes must be in 1..{1 + len(WORKER_IPS)}, got {num_nodes}")
    port = _free_port()
    address = f"{HEAD_IP}:{port}"
    # Short: Ray puts Unix sockets below it, whose paths may not exceed ~107 bytes.
    temp_root = Path(tempfile.mkdtemp(prefix="vssr-ray-", dir="/tmp"))
    common = ["--num-cpus", str(cpus_per_node), "--disable-usage-stats", "--block"]
    nodes: list[subprocess.Popen] = []
    try:
        nodes.append(
            _start_node(
                ["--head", "--node-ip-address", HEAD_IP, "--port", str(port), "--include-dashboard=false", *common],
                temp_root / "head",
            )
        )
        _wait_for_nodes(address, 1, nodes)
        for k, ip in enumerate(WORKER_IPS[: num_nodes - 1]):
            nodes.append(_start_node(["--address", address, "--node-ip-address", ip, *common], temp_root / f"w{k}"))
        _wait_for_nodes(address, num_nodes, nodes)
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


def _wait_for_nodes(address: str, num_nodes: int, nodes: list[subprocess.Popen], timeout_s: float = 90) -> None:
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
            [sys.executable, "-c", script, address, HEAD_IP], env=ray_env(), capture_output=True, text=True
        )
        if out.stdout.strip().isdigit() and int(out.stdout.strip()) >= num_nodes:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {num_nodes} nodes in {timeout_s:.0f} s")
