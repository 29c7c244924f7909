"""scripts/cached_env.sh, the build of the cached environments (vLLM on CPU, lmms-eval, GPU pins).

Run for real in bash, with an ``install`` that writes a few files instead of calling pip: the lock,
the stamp, the log and ``.failed``, the free-space check and the removal of folders of other keys.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(cache: Path, key: str, *, install: str = "echo built > \"$FOLDER/file\"; echo 'tool 1.0'",
          need_gb: int = 0, folder: Path | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """``build_cached_env`` for ``<cache>/kind-<key>`` (or ``folder``), as the setup scripts call it."""
    target = folder or cache / f"kind-{key}"
    script = f"""
set -euo pipefail
log() {{ printf '[test] %s\\n' "$*" >&2; }}
. {REPO / "scripts" / "cached_env.sh"}
FOLDER={target}
install() {{ mkdir -p "$FOLDER"; {install}; }}
build_cached_env "$FOLDER" "$FOLDER/.stamp" {need_gb} {cache}/kind-
echo "ready: $FOLDER"
"""
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def test_a_build_writes_its_stamp_last_and_a_second_call_reuses_it(tmp_path):
    first = build(tmp_path, "aa11")
    assert first.returncode == 0, first.stderr
    folder = tmp_path / "kind-aa11"
    assert (folder / ".stamp").is_file() and (folder / "file").read_text() == "built\n"
    assert "ready in" in first.stderr and "(tool 1.0)" in first.stderr  # the install's own last line
    again = build(tmp_path, "aa11", install='echo rebuilt > "$FOLDER/file"')
    assert again.returncode == 0 and (folder / "file").read_text() == "built\n"
    assert "ready in" not in again.stderr


def test_a_failed_build_leaves_no_stamp_and_says_why_in_dot_failed(tmp_path):
    failed = build(
        tmp_path, "aa11", install="echo 'WARNING: Location x is ignored'; echo 'ERROR: no such package'; false"
    )
    assert failed.returncode == 1 and "ready:" not in failed.stdout
    assert not (tmp_path / "kind-aa11" / ".stamp").exists()
    reason = (tmp_path / "kind-aa11.failed").read_text()
    assert "ERROR: no such package" in reason and "WARNING: Location" not in reason
    # The next call builds again (a killed or failed half is not built on) and clears the reason.
    assert build(tmp_path, "aa11").returncode == 0
    assert not (tmp_path / "kind-aa11.failed").exists()


def test_too_little_free_space_stops_before_anything_is_installed(tmp_path):
    stopped = build(tmp_path, "aa11", need_gb=10**9)  # an exabyte
    assert stopped.returncode == 1
    assert f"needs about {10**9} GB free in {tmp_path}, which has" in stopped.stderr
    assert "needs about" in (tmp_path / "kind-aa11.failed").read_text()  # the tests' skip reason
    assert not (tmp_path / "kind-aa11").exists()


def test_a_new_build_removes_the_folders_of_other_keys_but_not_one_in_use_or_not_ours(tmp_path):
    old = tmp_path / "kind-bb22"
    in_use = tmp_path / "kind-cc33"
    other_name = tmp_path / "kind-notes"  # not a hex key
    other_length = tmp_path / "kind-dd4455"  # not a key of this length
    for folder in (old, in_use, other_name, other_length):
        folder.mkdir()
        (folder / "file").write_text("x")
    (tmp_path / "kind-bb22.log").write_text("old log")
    holder = subprocess.Popen(["flock", str(tmp_path / "kind-cc33.lock"), "sleep", "30"])
    try:
        subprocess.run(["bash", "-c", f"until ! flock -n {tmp_path / 'kind-cc33.lock'} true; do sleep 0.1; done"],
                       timeout=10, check=True)  # fmt: skip
        built = build(tmp_path, "aa11")
    finally:
        holder.kill()
        holder.wait()
    assert built.returncode == 0, built.stderr
    assert not old.exists() and not (tmp_path / "kind-bb22.log").exists()
    assert f"removed {old}" in built.stderr
    assert in_use.is_dir() and other_name.is_dir() and other_length.is_dir()


def test_a_folder_the_user_chose_never_prunes_its_neighbours(tmp_path):
    mine = tmp_path / "kind-ee55"
    mine.mkdir()
    chosen = tmp_path / "elsewhere" / "venv-ab"  # e.g. VIDEOSSR_VLLM_CPU_VENV
    chosen.parent.mkdir()
    neighbour = tmp_path / "elsewhere" / "venv-cd"
    neighbour.mkdir()
    assert build(tmp_path, "unused", folder=chosen).returncode == 0
    assert mine.is_dir() and neighbour.is_dir() and (chosen / ".stamp").is_file()
