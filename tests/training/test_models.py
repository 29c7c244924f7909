"""The one place that maps a Qwen-VL model to its family and vision patch size."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from videossr.errors import ConfigError
from videossr.training.models import model_type_of, patch_size_of


@pytest.mark.parametrize(
    "name, family",
    [
        ("Qwen/Qwen3-VL-8B-Instruct", "qwen3_vl"),
        ("/models/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl"),
        ("x/qwen2_5_vl", "qwen2_5_vl"),
    ],
)
def test_a_hub_id_or_missing_folder_is_guessed_from_its_name(name, family):
    assert model_type_of(name) == family


def test_a_local_folder_is_read_from_its_config_and_unknown_families_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    assert model_type_of(str(tmp_path)) == "qwen2_vl" and patch_size_of("qwen2_vl") == 14
    assert patch_size_of("qwen3_vl_moe") == 16
    with pytest.raises(ConfigError, match="'llava' is not a Qwen-VL family"):
        patch_size_of("llava")


def test_the_command_line_prints_family_and_patch_size_and_a_given_family_wins():
    def run(*args):
        command = [sys.executable, "-m", "videossr.training.models", *args]
        return subprocess.run(command, capture_output=True, text=True)

    assert run("Qwen/Qwen3-VL-8B-Instruct").stdout.split() == ["qwen3_vl", "16"]
    assert run("Qwen/Qwen3-VL-8B-Instruct", "qwen2_5_vl").stdout.split() == ["qwen2_5_vl", "14"]
    bad = run("m", "llava")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "set MODEL_FAMILY" in bad.stderr
