"""No launch blockers: attention fallback, our agent loop and dataset selected, the fast length filter.

Everything through train.sh's own overrides, verl's config system and verl's dataset code, with
tiny offline checkpoints (transformers 5.10.4, this environment; flash-attn is not installed here).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from media import REPO_ROOT

from videossr.training.parity import build_parity_data
from videossr.training.recipe import compose_config

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out

TRAIN_SH = REPO_ROOT / "train" / "train.sh"
FAMILIES = ("qwen3_vl", "qwen2_5_vl")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    return build_parity_data(tmp_path_factory.mktemp("launch"))


@pytest.fixture(scope="module")
def models(tiny_model) -> dict[str, Path]:
    return {family: tiny_model(family) for family in FAMILIES}


def run_train_sh(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "ATTN_IMPLEMENTATION"}
    full_env.update({"PYTHON": sys.executable, "HF_HUB_OFFLINE": "1", **env})
    return subprocess.run(["bash", str(TRAIN_SH), *args], env=full_env, capture_output=True, text=True)


def files_env(data: dict[str, Path], model: Path, **extra: str) -> dict[str, str]:
    files = list(data.values())
    return {"MODEL_PATH": str(model), "TRAIN_FILES": " ".join(map(str, files)), "VAL_FILE": str(files[0]), **extra}


# ----------------------------------------------------------------------------- attention


def test_without_flash_attn_the_actor_gets_sdpa_and_the_launcher_says_why():
    import importlib.util

    assert importlib.util.find_spec("flash_attn") is None, "this test needs an environment without flash-attn"
    shown = run_train_sh(PRINT_OVERRIDES="1")
    assert "+actor_rollout_ref.model.override_config.attn_implementation=sdpa" in shown.stdout.splitlines()
    dry = run_train_sh("--dry-run", DATA_DIR="/nonexistent")  # the message comes before any check
    assert "flash_attn does not import" in dry.stderr and "attn_implementation=sdpa" in dry.stderr


def test_an_explicit_attention_choice_is_kept_and_the_dry_run_rejects_one_that_cannot_load(data, models):
    shown = run_train_sh(PRINT_OVERRIDES="1", ATTN_IMPLEMENTATION="flash_attention_2")
    assert "+actor_rollout_ref.model.override_config.attn_implementation=flash_attention_2" in shown.stdout.splitlines()
    dry = run_train_sh("--dry-run", **files_env(data, models["qwen3_vl"], ATTN_IMPLEMENTATION="flash_attention_2"))
    assert dry.returncode == 1
    (line,) = [line for line in dry.stderr.splitlines() if line.startswith("train.sh --dry-run: error:")]
    assert "cannot load attn_implementation=flash_attention_2" in line and "FlashAttention2" in line


# ----------------------------------------------------------------------------- dry run


def test_dry_run_builds_each_files_first_row_and_checks_its_length(data, models):
    dry = run_train_sh("--dry-run", **files_env(data, models["qwen3_vl"]))
    assert dry.returncode == 0, dry.stderr[-2000:]
    for path in data.values():
        assert (
            f"first row of {path.parent.name}/{path.name}: " in dry.stdout and "built by VideoSSRDataset" in dry.stdout
        )
    assert "attention sdpa: loads for" in dry.stdout
    assert "rollout parity: not checked here (vLLM is not installed" in dry.stdout  # no vLLM in this env
    # A budget below the jigsaw8 row (8 clips, ~1.9k tokens) is caught with the row's length.
    short = run_train_sh("--dry-run", **files_env(data, models["qwen3_vl"], MAX_PROMPT_LENGTH="1200"))
    assert short.returncode == 1 and "over data.max_prompt_length=1200" in short.stderr


# ----------------------------------------------------------------------------- agent loop and dataset


def test_train_sh_selects_our_agent_loop_and_dataset_through_verls_extension_points(data, models):
    import hydra
    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop
    from verl.utils.dataset.rl_dataset import get_dataset_class

    from videossr.training.agent_loop import VideoSSRAgentLoop
    from videossr.training.dataset import VideoSSRDataset

    overrides = run_train_sh(PRINT_OVERRIDES="1", **files_env(data, models["qwen3_vl"])).stdout.splitlines()
    config = compose_config(overrides)
    agent = config.actor_rollout_ref.rollout.agent
    # What verl's AgentLoopWorker does with these two settings: load the file, look the name up.
    registry = {entry.name: entry for entry in OmegaConf.load(agent.agent_loop_config_path)}
    loop_class = hydra.utils.get_class(registry[agent.default_agent_loop]._target_)
    assert loop_class is VideoSSRAgentLoop and issubclass(loop_class, SingleTurnAgentLoop)
    assert get_dataset_class(config.data) is VideoSSRDataset
    # vLLM starts from the checkpoint, not verl's random "dummy" start: the weight sync sends
    # parameters only, and vLLM 0.28's Qwen2.5-VL keeps its pixel normalisation in buffers.
    assert config.actor_rollout_ref.rollout.load_format == "auto"


@pytest.mark.parametrize("family", FAMILIES)
def test_length_filter_without_decoding_gives_verls_lengths_and_drops_what_verl_drops(family, data, models, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    from videossr.training.dataset import VideoSSRDataset

    processor = AutoProcessor.from_pretrained(models[family])
    rows = pa.concat_tables([pq.read_table(p) for p in data.values()], promote_options="default").to_pylist()
    broken = dict(
        rows[0],
        videos=[dict(rows[0]["videos"][0], video=[str(tmp_path / "missing.jpg")] * 48)],
        reward_model={"style": "rule", "ground_truth": "broken"},
    )
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows + [broken]), path)
    config = OmegaConf.create(
        {
            "filter_overlong_prompts": False,
            "video_key": "videos",
            "cache_dir": str(tmp_path / "c"),
            "image_patch_size": processor.image_processor.patch_size,
            "max_prompt_length": 8192,
            "filter_overlong_prompts_workers": None,
        }
    )
    ours = VideoSSRDataset(data_files=[str(path)], tokenizer=processor.tokenizer, config=config, processor=processor)
    for k, row in enumerate(rows):
        doc = ours.dataframe[k]
        messages = ours._build_messages(doc, key="prompt")
        _, videos, _ = ours._process_multi_modal_info(messages, processor.image_processor.patch_size, config)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        verl_length = len(build_multimodal_processor_inputs(processor, text=[text], videos=videos)["input_ids"][0])
        assert ours.prompt_length(ours.dataframe[k]) == verl_length, row["data_source"]
    lengths = [ours.prompt_length(ours.dataframe[k]) for k in range(len(rows))]
    budget = sorted(lengths)[1]  # a budget that keeps some rows and drops others
    expected = sum(n <= budget for n in lengths)
    kept = {}
    for cls in (RLHFDataset, VideoSSRDataset):
        filtered = OmegaConf.merge(config, {"filter_overlong_prompts": True, "max_prompt_length": budget})
        dataset = cls(data_files=[str(path)], tokenizer=processor.tokenizer, config=filtered, processor=processor)
        kept[cls.__name__] = [(row["data_source"], row["reward_model"]["ground_truth"]) for row in dataset.dataframe]
    assert kept["VideoSSRDataset"] == kept["RLHFDataset"]
    assert len(kept["RLHFDataset"]) == expected < len(rows)  # over-long rows and the broken row dropped
