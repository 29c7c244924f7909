"""Pretext tasks generated online in verl's dataloader, through verl's own dataset machinery."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from media import REPO_ROOT
from row_checks import check_row

from videossr.data.generation import regenerate_sample
from videossr.data.mix import get_recipe
from videossr.tasks.registry import spec_of
from videossr.training.online_dataset import OnlinePretextDataset, parse_mix
from videossr.training.recipe import compose_config

TRAIN_SH = REPO_ROOT / "train" / "train.sh"
MIX = "grounding/ChannelSwap=1;grounding/Shuffle=1;grounding/Swap=1;counting/easy=1;jigsaw/6=1;jigsaw/8=1"


def overrides(frames_dir: Path, cache: Path, seed: int = 0, epochs: int = 2, **env: str) -> list[str]:
    environment = {
        **os.environ,
        "PYTHON": sys.executable,
        "PRINT_OVERRIDES": "1",
        "ONLINE": "1",
        "FRAMES_DIRS": str(frames_dir),
        "ONLINE_MIX": MIX,
        "ONLINE_CACHE_DIR": str(cache),
        "SEED": str(seed),
        "TOTAL_EPOCHS": str(epochs),
        **env,
    }
    result = subprocess.run(["bash", str(TRAIN_SH)], env=environment, capture_output=True, text=True, check=True)
    return result.stdout.splitlines() + ["data.filter_overlong_prompts_workers=null"]


def verl_dataset(frames_dir: Path, cache: Path, tokenizer=None, processor=None, **kwargs):
    """The training dataset exactly as verl's trainer creates it from train.sh's configuration."""
    from verl.trainer.ppo.utils import create_rl_dataset

    config = compose_config(overrides(frames_dir, cache, **kwargs))
    return create_rl_dataset(config.data.train_files, config.data, tokenizer, processor), config


def test_train_sh_online_config_selects_our_dataset_class_through_verl(frames_dir, tmp_path):
    dataset, config = verl_dataset(frames_dir, tmp_path / "cache")
    assert isinstance(dataset, OnlinePretextDataset) and dataset.online
    assert len(dataset) == 7 * 2  # videos x epochs, walked in one verl epoch
    assert config.trainer.total_epochs == 1 and config.data.online.epochs == 2


def test_online_rows_pass_the_same_checks_as_offline_rows(frames_dir, tmp_path):
    dataset, _ = verl_dataset(frames_dir, tmp_path / "cache")
    tasks = set()
    for index in range(len(dataset)):
        row = dataset.sample_row(index)
        check_row(row, frames_dir)  # the very checks the offline files pass
        extra = row["extra_info"]
        tasks.add((row["data_source"], extra["perturbation"] or extra["difficulty"] or extra["num_clips"]))
        sample = regenerate_sample(row)  # the stored seed rebuilds the online sample offline
        assert sample.ground_truth == row["reward_model"]["ground_truth"]
    assert len(tasks) >= 4, tasks


@pytest.mark.slow
def test_two_epochs_differ_and_a_seed_repeats(frames_dir, tmp_path):
    first, _ = verl_dataset(frames_dir, tmp_path / "a", seed=3)
    again, _ = verl_dataset(frames_dir, tmp_path / "b", seed=3)
    other, _ = verl_dataset(frames_dir, tmp_path / "c", seed=4)
    videos = len(first.videos)

    def key(row):
        return (row["data_source"], row["reward_model"]["ground_truth"], row["extra_info"]["seed"])

    epoch0 = [key(first.sample_row(i)) for i in range(videos)]
    epoch1 = [key(first.sample_row(i)) for i in range(videos, 2 * videos)]
    assert epoch0 != epoch1
    assert [key(again.sample_row(i)) for i in range(2 * videos)] == epoch0 + epoch1
    assert [key(other.sample_row(i)) for i in range(videos)] != epoch0
    # Changed frames repeat byte for byte.
    for index in range(videos):
        a, b = first.sample_row(index), again.sample_row(index)
        for va, vb in zip(a["videos"], b["videos"]):
            for pa, pb in zip(va["video"], vb["video"]):
                assert Path(pa).read_bytes() == Path(pb).read_bytes()


@pytest.mark.slow
def test_items_reach_the_model_through_verls_getitem_and_vision_path(frames_dir, tmp_path, tiny_model):
    from transformers import AutoProcessor, AutoTokenizer
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    model = tiny_model("qwen3_vl")
    tokenizer, processor = AutoTokenizer.from_pretrained(model), AutoProcessor.from_pretrained(model)
    dataset, config = verl_dataset(frames_dir, tmp_path / "cache", tokenizer=tokenizer, processor=processor)
    for index in (0, 5, 9):
        item = dataset[index]  # verl's RLHFDataset.__getitem__ on our rows
        assert item["index"] == index and "raw_prompt" in item and "videos" not in item
        messages = list(item["raw_prompt"])
        images, videos, _ = dataset._process_multi_modal_info(
            messages, processor.image_processor.patch_size, config.data
        )
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = build_multimodal_processor_inputs(processor, text=[text], images=images, videos=videos)
        assert inputs["video_grid_thw"].shape[0] == len(videos)


@pytest.mark.slow
def test_the_frame_cache_stays_bounded(frames_dir, tmp_path):
    cache = tmp_path / "cache"
    dataset, _ = verl_dataset(frames_dir, cache, epochs=3)
    dataset.cache.capacity = 3
    for index in range(len(dataset)):
        dataset.sample_row(index)
    (worker_dir,) = list(cache.iterdir())
    assert len(list(worker_dir.iterdir())) <= 3
    # A folder left by a process that has ended is removed when the next process starts its own.
    import socket

    stale = cache / f"{socket.gethostname()}-999999999"
    (stale / "item0").mkdir(parents=True)
    dataset.cache._folder = None
    dataset.sample_row(0)
    assert not stale.exists()


def test_validation_parquet_files_load_as_verls_own_dataset(frames_dir, tmp_path, tiny_model):
    from videossr.data.generation import GenerationSettings, generate_files
    from videossr.frames.folder import load_index

    ids = [r["video_id"] for r in load_index(frames_dir)]
    generate_files(frames_dir, tmp_path / "val", [(spec_of("jigsaw/6"), ids)], GenerationSettings(split="val"))
    config = compose_config(overrides(frames_dir, tmp_path / "cache") + [f"+data.cache_dir={tmp_path / 'verl'}"])
    from transformers import AutoProcessor, AutoTokenizer
    from verl.trainer.ppo.utils import create_rl_dataset

    model = tiny_model("qwen3_vl")
    val = create_rl_dataset(
        [str(tmp_path / "val" / "jigsaw/6.parquet")],
        config.data,
        AutoTokenizer.from_pretrained(model),
        AutoProcessor.from_pretrained(model),
    )
    assert not val.online and len(val) == 7


def test_mix_strings_and_bad_mixes():
    assert [(s.key, w) for s, w in parse_mix('{"jigsaw/6": 2}')] == [("jigsaw/6", 2.0)]
    # No mix: VideoSSR-30K's parts and weights (tests/data/test_mix.py pins what they are).
    assert parse_mix(None) == [(p.spec, float(p.weight)) for p in get_recipe("videossr-30k").parts]
    from videossr.errors import ConfigError

    for bad in ("sorting/x=1", "grounding/Sepia=1", "jigsaw/6=-1", "grounding/Mirror=abc"):
        with pytest.raises(ConfigError):
            parse_mix(bad)


@pytest.mark.slow
def test_train_sh_online_dry_run_passes_and_explains_missing_frames(frames_dir, tmp_path):
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "ONLINE": "1",
        "FRAMES_DIRS": str(frames_dir),
        "ONLINE_MIX": MIX,
        "VAL_FILE": "",
        "ONLINE_CACHE_DIR": str(tmp_path / "cache"),
    }
    from videossr.data.generation import GenerationSettings, generate_files
    from videossr.frames.folder import load_index

    generate_files(
        frames_dir,
        tmp_path / "val",
        [(spec_of("jigsaw/6"), [r["video_id"] for r in load_index(frames_dir)])],
        GenerationSettings(split="val"),
    )
    env["VAL_FILE"] = str(tmp_path / "val" / "jigsaw/6.parquet")
    result = subprocess.run(["bash", str(TRAIN_SH), "--dry-run"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "online OnlinePretextDataset: 7 videos x 1 epochs" in result.stdout
    missing = subprocess.run(
        ["bash", str(TRAIN_SH), "--dry-run"], env={**env, "FRAMES_DIRS": ""}, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "needs FRAMES_DIRS" in missing.stderr
    assert not any(p.name == "videossr_online" for p in frames_dir.iterdir())


@pytest.mark.slow
def test_verls_dataloader_draws_the_same_samples_whatever_the_workers_and_after_a_resume(
    frames_dir, tmp_path, tiny_model
):
    """The trainer's own loader (verl's sampler, ``StatefulDataLoader``, collate) over the online dataset.

    Batches are a pure function of the seed and the step: two worker processes give the batches
    one process gives, no sample repeats within the pass, and a loader restored from the state
    verl checkpoints (``data.pt``, after step 2) goes on with exactly the batches of steps 3-4.
    What each rank then trains on is a split of these batches (checked in a real run by
    ``train/smoke_cpu.sh``'s rows check).
    """
    from torchdata.stateful_dataloader import StatefulDataLoader
    from transformers import AutoProcessor, AutoTokenizer
    from verl.trainer.ppo.utils import create_rl_sampler
    from verl.utils.dataset.rl_dataset import collate_fn

    model = tiny_model("qwen3_vl")
    tokenizer, processor = AutoTokenizer.from_pretrained(model), AutoProcessor.from_pretrained(model)
    dataset, config = verl_dataset(frames_dir, tmp_path / "cache", tokenizer=tokenizer, processor=processor, seed=5)

    def loader(workers: int) -> StatefulDataLoader:
        return StatefulDataLoader(
            dataset,
            batch_size=2,
            num_workers=workers,
            drop_last=True,
            collate_fn=collate_fn,
            sampler=create_rl_sampler(config.data, dataset),
        )

    def keys(batch) -> list[tuple]:
        return [(info["seed"], info["index"]) for info in batch["extra_info"]]

    one = [keys(batch) for batch in loader(0)]
    two = [keys(batch) for batch in loader(2)]
    assert one == two and len(one) == len(dataset) // 2
    drawn = [key for batch in one for key in batch]
    assert len(set(drawn)) == len(drawn)
    first = loader(2)
    iterator = iter(first)
    assert [keys(next(iterator)) for _ in range(2)] == one[:2]
    resumed = loader(2)
    resumed.load_state_dict(first.state_dict())
    assert [keys(batch) for batch in resumed][:2] == one[2:4]
