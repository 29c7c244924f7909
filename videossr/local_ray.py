"""A real multi-node Ray cluster on one machine, on loopback addresses: for tests, benchmarks and
trying the ``--ray`` route without a cluster.

The head (127.0.0.2) and a worker node (127.0.0.3) are started with ``ray start`` as separate
processes, each with its own CPU share, and stopped with ``ray stop`` at the end. Loopback
addresses other than 127.0.0.1 keep Ray from advertising the machine's network address.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HEAD_IP = "127.0.0.2"
WORKER_IPS = ("127.0.0.3", "127.0.0.4")


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
    """Yield the address of a ``num_nodes``-node cluster (head included); stop it afterwards."""
    port = _free_port()
    address = f"{HEAD_IP}:{port}"
    common = ["--num-cpus", str(cpus_per_node), "--disable-usage-stats"]
    subprocess.run([_ray_cli(), "stop", "--force"], env=ray_env(), capture_output=True)
    try:
        subprocess.run([_ray_cli(), "start", "--head", "--node-ip-address", HEAD_IP, "--port", str(port),
                        "--include-dashboard=false", *common], env=ray_env(), check=True, capture_output=True)  # fmt: skip
        for ip in WORKER_IPS[: num_nodes - 1]:
            subprocess.run([_ray_cli(), "start", "--address", address, "--node-ip-address", ip, *common],
                           env=ray_env(), check=True, capture_output=True)  # fmt: skip
        _wait_for_nodes(address, num_nodes)
        yield address
    finally:
        subprocess.run([_ray_cli(), "stop", "--force"], env=ray_env(), capture_output=True)


def _wait_for_nodes(address: str, num_nodes: int, timeout_s: float = 60) -> None:
    script = (
        "import ray, sys; ray.init(address=sys.argv[1], _node_ip_address=sys.argv[2], log_to_driver=False); "
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", script, address, HEAD_IP], env=ray_env(),
                             capture_output=True, text=True)  # fmt: skip
        if out.stdout.strip().isdigit() and int(out.stdout.strip()) >= num_nodes:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {num_nodes} nodes")
