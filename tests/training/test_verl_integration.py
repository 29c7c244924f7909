"""The training path through the real verl 0.9.1: launcher config, reward managers, dataset.

Everything runs on CPU with data made by our generators and tiny offline Qwen-VL checkpoints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from media import REPO_ROOT

from videossr.data.generation import GenerationSettings, read_rows
from videossr.data.mix import build_mix, get_recipe
from videossr.training.recipe import compose_config

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out

TRAIN_SH = REPO_ROOT / "train" / "train.sh"
# The variant keys train.sh reads (tests/data/test_mix.py pins them).
TRAIN_FILES = [part.spec.key for part in get_recipe("videossr-30k").parts]


@pytest.fixture(scope="module")
def mix_dir(frames_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mix")
    build_mix(frames_dir, out, get_recipe("videossr-30k"), GenerationSettings(seed=1), workers=2)
    return out


@pytest.fixture(scope="module")
def tiny_qwen3(tiny_model) -> Path:
    return tiny_model("qwen3_vl")


@pytest.fixture(scope="module")
def tiny_qwen25(tiny_model) -> Path:
    return tiny_model("qwen2_5_vl")


def launcher_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    env.update(overrides)
    return env


def train_sh_overrides(**env: str) -> list[str]:
    """The exact verl overrides ``train/train.sh`` would pass, for the given environment."""
    result = subprocess.run(
        ["bash", str(TRAIN_SH)],
        env=launcher_env(PRINT_OVERRIDES="1", **env),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


# ----------------------------------------------------------------------------- launcher


def test_train_sh_dry_run_validates_the_paper_config_with_verl(mix_dir, tiny_qwen3):
    result = subprocess.run(
        ["bash", str(TRAIN_SH), "--dry-run"],
        env=launcher_env(DATA_DIR=str(mix_dir), MODEL_PATH=str(tiny_qwen3)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dry run OK" in result.stdout
    assert "All configuration checks passed" in result.stdout  # verl's own validate_config ran
    for name in TRAIN_FILES:
        assert f"train {name}.parquet: 1 rows" in result.stdout
    assert "model " in result.stdout and "qwen3_vl, patch size 16" in result.stdout


def test_train_sh_sets_the_papers_hyperparameters_for_current_verl(mix_dir):
    config = compose_config(train_sh_overrides(DATA_DIR=str(mix_dir)))
    actor, rollout = config.actor_rollout_ref.actor, config.actor_rollout_ref.rollout
    assert config.algorithm.adv_estimator == "grpo" and not config.algorithm.use_kl_in_reward
    assert (config.data.train_batch_size, actor.ppo_mini_batch_size, rollout.n) == (64, 64, 8)
    assert actor.optim.lr == 1e-6 and actor.use_kl_loss and actor.kl_loss_coef == 0.001
    assert actor.kl_loss_type == "low_var_kl" and actor.entropy_coeff == 0
    assert (config.data.max_prompt_length, config.data.max_response_length) == (8192, 2048)
    assert rollout.max_model_len == 8192 + 2048 and config.data.filter_overlong_prompts
    assert config.data.image_patch_size == 16  # Qwen3-VL
    assert rollout.engine_kwargs.vllm.mm_processor_cache_gb == 0
    assert config.reward.custom_reward_function.path == str(REPO_ROOT / "verl" / "reward.py")
    assert config.reward.custom_reward_function.reward_kwargs.reward_mode == "smooth"
    assert list(config.data.train_files) == [str(mix_dir / f"{n}.parquet") for n in TRAIN_FILES]
    assert config.trainer.total_epochs == 1 and config.trainer.n_gpus_per_node == 8


def test_qwen25_gets_patch_size_14_and_strict_mode_reaches_the_reward(mix_dir):
    config = compose_config(
        train_sh_overrides(DATA_DIR=str(mix_dir), MODEL_PATH="/models/Qwen2.5-VL-7B-Instruct", REWARD_MODE="strict")
    )
    assert config.data.image_patch_size == 14
    assert config.reward.custom_reward_function.reward_kwargs.reward_mode == "strict"


@pytest.mark.parametrize(
    "extra, env, message",
    [
        (["actor_rollout_ref.rollout.disable_mm_preprocessor_cache=True"], {}, "Could not override"),
        ([], {"TRAIN_BATCH_SIZE": "3", "ROLLOUT_N": "5"}, "must be divisible"),
        ([], {"DATA_DIR": "/nonexistent"}, "data file not found"),
    ],
)
def test_dry_run_fails_with_verls_message_in_one_line(mix_dir, extra, env, message):
    result = subprocess.run(
        ["bash", str(TRAIN_SH), "--dry-run", *extra],
        env=launcher_env(**{"DATA_DIR": str(mix_dir), **env}),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("train.sh --dry-run: error:")]
    assert message in line


def test_patch_size_that_does_not_match_the_model_is_caught(mix_dir, tiny_qwen3):
    result = subprocess.run(
        ["bash", str(TRAIN_SH), "--dry-run", "data.image_patch_size=14"],
        env=launcher_env(DATA_DIR=str(mix_dir), MODEL_PATH=str(tiny_qwen3)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "qwen3_vl uses 16" in result.stderr


def test_one_gpu_smoke_configuration_is_valid(mix_dir, tiny_qwen3):
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "train" / "smoke_1gpu.sh"), "--dry-run"],
        env=launcher_env(DATA_DIR=str(mix_dir), MODEL_PATH=str(tiny_qwen3)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]


# ----------------------------------------------------------------------------- rewards in verl


def _response_batch(tokenizer, rows: list[dict], responses: list[str]):
    """A verl DataProto as the rollout hands it to reward managers."""
    import torch

    from verl import DataProto

    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in responses]
    length = max(len(ids) for ids in encoded)
    pad = tokenizer.pad_token_id
    response_ids = torch.tensor([ids + [pad] * (length - len(ids)) for ids in encoded])
    prompt_mask = torch.ones(len(rows), 3, dtype=torch.long)
    response_mask = torch.tensor([[1] * len(ids) + [0] * (length - len(ids)) for ids in encoded])
    return DataProto.from_dict(
        tensors={"responses": response_ids, "attention_mask": torch.cat([prompt_mask, response_mask], dim=1)},
        non_tensors={
            "data_source": np.array([r["data_source"] for r in rows], dtype=object),
            "reward_model": np.array([r["reward_model"] for r in rows], dtype=object),
            "extra_info": np.array([r["extra_info"] for r in rows], dtype=object),
        },
    )


def _all_rows(mix_dir: Path) -> list[dict]:
    return [row for name in TRAIN_FILES for row in read_rows(mix_dir / f"{name}.parquet")]


def test_verls_naive_reward_manager_scores_our_rows_with_the_keys_train_sh_sets(mix_dir, tiny_qwen3):
    from transformers import AutoTokenizer
    from verl.trainer.ppo.reward import load_reward_manager

    config = compose_config(train_sh_overrides(DATA_DIR=str(mix_dir), MODEL_PATH=str(tiny_qwen3)))
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3)
    manager = load_reward_manager(config, tokenizer)
    assert type(manager).__name__ == "NaiveRewardManager"
    rows = _all_rows(mix_dir)
    truths = [r["reward_model"]["ground_truth"] for r in rows]
    wrong = {"grounding": "0.0-0.1", "counting": "9,9,9", "jigsaw": "garbage"}
    for responses, expect_perfect in ((truths, True), ([wrong[r["data_source"]] for r in rows], False)):
        batch = _response_batch(tokenizer, rows, responses)
        for k in range(len(rows)):
            result = manager.loop.run_until_complete(manager.run_single(batch[k : k + 1]))  # its own loop
            assert set(result["reward_extra_info"]) == {"score", "smooth", "strict", "parsed", "format"}
            assert (result["reward_score"] == 1.0) == expect_perfect, (rows[k]["data_source"], responses[k])


def test_verls_ray_reward_loop_scores_our_rows(mix_dir, tiny_qwen3):
    import ray
    from transformers import AutoTokenizer
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker, migrate_legacy_reward_impl

    config = migrate_legacy_reward_impl(
        compose_config(train_sh_overrides(DATA_DIR=str(mix_dir), MODEL_PATH=str(tiny_qwen3)))
    )
    rows = _all_rows(mix_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3)
    batch = _response_batch(tokenizer, rows, [r["reward_model"]["ground_truth"] for r in rows])
    # A loopback node address keeps this local Ray off the machine's network address.
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.2",
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}},
    )
    try:
        worker = ray.remote(RewardLoopWorker).remote(config)
        results = ray.get(worker.compute_score_batch.remote(batch), timeout=120)
    finally:
        ray.shutdown()
    assert [r["reward_score"] for r in results] == [1.0] * len(rows)
    assert {r["reward_extra_info"]["parsed"] for r in results} == {1.0}


# ----------------------------------------------------------------------------- dataset and model


def dataset_config(mix_dir: Path, model_dir: Path, tmp_path_factory):
    """train.sh's configuration, with verl's dataset cache in a temporary folder.

    The length filter runs in this process: ``datasets`` forks a pool even for one worker, and a
    fork after torch has used its OpenMP threads (earlier tests did) can hang the child.
    """
    cache = tmp_path_factory.mktemp("verl_cache")
    overrides = train_sh_overrides(DATA_DIR=str(mix_dir), MODEL_PATH=str(model_dir))
    return compose_config(overrides + [f"+data.cache_dir={cache}", "data.filter_overlong_prompts_workers=null"])


def _dataset(config, files: list[Path], model_dir: Path):
    from transformers import AutoProcessor, AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    dataset = RLHFDataset(
        data_files=[str(f) for f in files], tokenizer=tokenizer, config=config.data, processor=processor
    )
    return dataset, processor


def _model_inputs(dataset, processor, item: dict, config):
    """What verl's agent loop feeds the model for one dataset item."""
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    messages = list(item["raw_prompt"])
    images, videos, _ = dataset._process_multi_modal_info(messages, processor.image_processor.patch_size, config.data)
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return build_multimodal_processor_inputs(processor, text=[text], images=images, videos=videos)


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_verls_rlhf_dataset_turns_our_rows_into_model_inputs(mix_dir, family, tmp_path_factory, request):
    model_dir = request.getfixturevalue("tiny_qwen3" if family == "qwen3_vl" else "tiny_qwen25")
    config = dataset_config(mix_dir, model_dir, tmp_path_factory)
    files = [mix_dir / f"{name}.parquet" for name in TRAIN_FILES]
    dataset, processor = _dataset(config, files, model_dir)
    assert len(dataset) == 6, "verl's length filter dropped a row (it also drops rows that fail to process)"
    for k in range(len(dataset)):
        item = dataset[k]
        inputs = _model_inputs(dataset, processor, item, config)
        num_videos = len(read_rows(files[k])[0]["videos"])
        assert inputs["video_grid_thw"].shape[0] == num_videos
        assert inputs["pixel_values_videos"].shape[0] == int(inputs["video_grid_thw"].prod(dim=1).sum())


def test_qwen3_vl_prompt_timestamps_are_on_the_grounding_answers_clock(mix_dir, tiny_qwen3, tmp_path_factory):
    config = dataset_config(mix_dir, tiny_qwen3, tmp_path_factory)
    dataset, processor = _dataset(config, [mix_dir / "grounding/channelswap.parquet"], tiny_qwen3)
    item = dataset[0]
    row = read_rows(mix_dir / "grounding/channelswap.parquet")[0]
    fps = row["videos"][0]["sample_fps"]
    inputs = _model_inputs(dataset, processor, item, config)
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    stamps = [float(t) for t in re.findall(r"<([\d.]+) seconds>", text)]
    # One stamp per 2-frame patch k, at the mean time of its frames: (2k + 0.5) / sample_fps.
    assert stamps == [round((2 * k + 0.5) / fps, 1) for k in range(24)]
    start = row["extra_info"]["start_frame_pos"]
    answer_start = float(row["reward_model"]["ground_truth"].split("-")[0])
    assert abs(stamps[start // 2] - answer_start) <= 1.0 / fps + 0.05  # same clock, within a frame


def test_jigsaw_clips_restart_their_timestamps(mix_dir, tiny_qwen3, tmp_path_factory):
    config = dataset_config(mix_dir, tiny_qwen3, tmp_path_factory)
    dataset, processor = _dataset(config, [mix_dir / "jigsaw/6.parquet"], tiny_qwen3)
    inputs = _model_inputs(dataset, processor, dataset[0], config)
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    stamps = re.findall(r"<([\d.]+) seconds>", text)
    assert len(stamps) == 6 * 4 and stamps[:4] * 6 == stamps  # 6 clips x 4 patches, each from 0


def test_tiny_model_trains_one_step_on_a_generated_sample(mix_dir, tiny_qwen3, tmp_path_factory):
    import torch
    from transformers import AutoModelForImageTextToText

    config = dataset_config(mix_dir, tiny_qwen3, tmp_path_factory)
    dataset, processor = _dataset(config, [mix_dir / "counting/easy.parquet"], tiny_qwen3)
    inputs = _model_inputs(dataset, processor, dataset[0], config)
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen3)
    model.train()
    output = model(**inputs, labels=inputs["input_ids"])
    assert torch.isfinite(output.loss)
    output.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(p.grad is not None for p in model.model.visual.parameters()), "gradients reach the vision tower"


def test_the_reward_also_loads_from_the_installed_package(mix_dir):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config = compose_config(
        train_sh_overrides(DATA_DIR=str(mix_dir))
        + ["reward.custom_reward_function.path=pkg://videossr.rewards.scoring"]
    )
    reward_fn = get_custom_reward_fn(config)
    assert (
        reward_fn(data_source="shuffled", solution_str="123456", ground_truth="123456", extra_info={})["score"] == 1.0
    )
