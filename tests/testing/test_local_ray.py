"""The loopback Ray cluster helper stops only what it started (reliability issue, part 4).

It used to run ``ray stop --force`` on entry and exit, which kills every Ray process on the
machine: a user's cluster (their verl training job) died whenever the tests ran. Here a bystander
cluster — started the way a user would, in its own session and temporary folder — must survive a
whole start/stop of the helper's cluster, and the helper must leave none of its own processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from videossr.testing.local_ray import _free_port, _ray_cli, local_ray_cluster, ray_env

pytestmark = pytest.mark.slow

BYSTANDER_IP = "127.0.0.9"


def _session_pids(sid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
    return {int(pid) for pid, s in (line.split() for line in out.splitlines()) if int(s) == sid}


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (a dead child that its new parent has not reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _core_pids(sid: int) -> set[int]:
    """The GCS server and raylet of the node started in session ``sid``."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,comm="], capture_output=True, text=True, check=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()]
    return {int(pid) for pid, s, comm in rows if int(s) == sid and comm.strip() in ("gcs_server", "raylet")}


def _nodes_alive(address: str, ip: str) -> int:
    script = (
        "import ray, sys; ray.init(address=sys.argv[1], _node_ip_address=sys.argv[2], log_to_driver=False); "
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, address, ip], env=ray_env(), capture_output=True, text=True, timeout=120
    )
    return int(out.stdout.strip()) if out.stdout.strip().isdigit() else 0


@pytest.fixture
def bystander_cluster():
    """Somebody else's one-node Ray cluster on this machine."""
    port = _free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="vssr-by-", dir="/tmp"))
    process = subprocess.Popen(
        [
            _ray_cli(),
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            BYSTANDER_IP,
            "--port",
            str(port),
            "--include-dashboard=false",
            "--num-cpus",
            "1",
            "--disable-usage-stats",
            "--temp-dir",
            str(temp_dir),
        ],
        env=ray_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"{BYSTANDER_IP}:{port}"
    deadline = time.monotonic() + 90
    while _nodes_alive(address, BYSTANDER_IP) < 1:
        assert time.monotonic() < deadline and process.poll() is None, "the bystander cluster did not start"
        time.sleep(1)
    yield address, process
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_the_helper_leaves_other_clusters_running_and_none_of_its_own_processes(bystander_cluster):
    bystander_address, bystander = bystander_cluster
    bystander_core = _core_pids(bystander.pid)
    assert len(bystander_core) == 2
    ours: set[int] = set()
    with local_ray_cluster(num_nodes=2) as address:
        assert _nodes_alive(address, "127.0.0.2") == 2
        out = subprocess.run(["ps", "-ww", "-eo", "pid=,sid=,args="], capture_output=True, text=True).stdout
        heads = [
            line.split()[1]
            for line in out.splitlines()
            if "ray start" in line and "vssr-ray-" in line and BYSTANDER_IP not in line
        ]
        for sid in {int(s) for s in heads}:
            ours |= _session_pids(sid)
    assert ours, "the helper's node processes were not found"
    deadline = time.monotonic() + 15  # SIGKILL is delivered asynchronously
    while (alive := {pid for pid in ours if _running(pid)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive, f"the helper left processes running: {sorted(alive)}"
    assert bystander.poll() is None, "the bystander's `ray start` was killed"
    assert all(Path(f"/proc/{pid}").exists() for pid in bystander_core), "the bystander's GCS or raylet was killed"
    assert _nodes_alive(bystander_address, BYSTANDER_IP) == 1, "the bystander cluster stopped working"
