"""Tiny offline Qwen-VL checkpoints: they load with the standard classes and run the real video path.

The video path is the one of training and evaluation: JPEG frame paths in a chat message, then
``qwen_vl_utils.process_vision_info(..., return_video_metadata=True)``, the processor with
``video_metadata`` and ``do_sample_frames=False`` (as verl's ``build_multimodal_processor_inputs``
calls it), then forward, backward and ``generate``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from media import REPO_ROOT

from videossr.testing import tiny_models
from videossr.testing.tiny_models import FAMILIES, MARKER_NAME, SPECIAL_TOKENS, build_tiny_model, tiny_model_dir

# Loading must not need the hub. huggingface_hub reads this when first imported, so set it before
# the tests below import transformers (folders are local either way; the machine is offline).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCRIPT = REPO_ROOT / "scripts" / "make_tiny_models.py"
PATCH_SIZE = {"qwen2_5_vl": 14, "qwen3_vl": 16}
SAMPLE_FPS = 6.25
NUM_FRAMES = 8
ANSWERS = ["2.1-3.8", "3,1,4", "341562", "51827463", "<answer>3,1,4</answer>", "14.5-26.2", " 0.1 seconds"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    """Parent folder of the seed-0 checkpoints, laid out as ``tiny_model_dir`` expects."""
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="module", params=FAMILIES)
def family(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def checkpoint(cache_root, family) -> Path:
    """The seed-0 checkpoint of ``family``, built once per module."""
    return build_tiny_model(family, cache_root / family, seed=0)


@pytest.fixture(scope="module")
def frame_paths(tmp_path_factory) -> list[str]:
    """8 JPEG frames of 96x128 px; frame i is grey level 30*i with its index written on it."""
    import cv2
    import numpy as np

    folder = tmp_path_factory.mktemp("frames")
    paths = []
    for index in range(NUM_FRAMES):
        frame = np.full((96, 128, 3), 30 * index, dtype=np.uint8)
        cv2.putText(frame, str(index), (44, 70), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        path = folder / f"{index:03d}.jpg"
        assert cv2.imwrite(str(path), frame)
        paths.append(str(path))
    return paths


def video_messages(frame_paths: list[str]) -> list[dict]:
    """A system prompt and a user turn holding the video (as training rows give it) and a question."""
    video = {"type": "video", "video": frame_paths, "sample_fps": SAMPLE_FPS, "max_pixels": 65536, "min_pixels": 16384}
    return [
        {"role": "system", "content": "Based on this video, provide the answer directly."},
        {"role": "user", "content": [video, {"type": "text", "text": "Count the circles, squares and triangles."}]},
    ]


@pytest.fixture(scope="module")
def loaded(checkpoint):
    """(processor, model) loaded back from the folder with the Auto classes."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoProcessor.from_pretrained(checkpoint), AutoModelForImageTextToText.from_pretrained(checkpoint)


@pytest.fixture(scope="module")
def video_inputs(loaded, family, frame_paths):
    """(prompt text, processor outputs) of the real video path for ``video_messages``."""
    from qwen_vl_utils import process_vision_info

    processor, _ = loaded
    messages = video_messages(frame_paths)
    _, videos = process_vision_info(messages, image_patch_size=PATCH_SIZE[family], return_video_metadata=True)
    frames, metadatas = zip(*videos)
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(
        text=[text],
        videos=list(frames),
        video_metadata=list(metadatas),
        do_sample_frames=False,
        return_tensors="pt",
    )
    return text, inputs


# ----------------------------------------------------------------------------------------------
# Folder content and reloading
# ----------------------------------------------------------------------------------------------


def test_checkpoint_folder_holds_every_file_and_is_a_few_mb(checkpoint, family):
    names = {path.name for path in checkpoint.iterdir()}
    expected = {
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "processor_config.json",
        "chat_template.jinja",
        MARKER_NAME,
    }
    assert expected <= names
    assert json.loads((checkpoint / MARKER_NAME).read_text())["family"] == family
    size = sum(path.stat().st_size for path in checkpoint.iterdir())
    assert size < 5 * 2**20
    assert not any(name.startswith(".") for name in os.listdir(checkpoint.parent))  # no staging left


def test_reloads_with_auto_classes_and_token_ids_agree(checkpoint, family):
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    config = AutoConfig.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    processor = AutoProcessor.from_pretrained(checkpoint)
    model = AutoModelForImageTextToText.from_pretrained(checkpoint)

    assert config.model_type == family
    model_classes = {"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration", "qwen3_vl": "Qwen3VLForConditionalGeneration"}
    assert type(model).__name__ == model_classes[family]
    assert type(processor).__name__ == {"qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen3_vl": "Qwen3VLProcessor"}[family]
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert model.dtype == torch.float32
    assert config.text_config.vocab_size == len(tokenizer)
    assert config.vision_config.patch_size == PATCH_SIZE[family]
    assert processor.image_processor.patch_size == processor.video_processor.patch_size == PATCH_SIZE[family]
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    assert sorted(ids.values()) == list(range(len(tokenizer) - len(SPECIAL_TOKENS), len(tokenizer)))
    assert config.image_token_id == ids["<|image_pad|>"] == processor.image_token_id
    assert config.video_token_id == ids["<|video_pad|>"] == processor.video_token_id
    assert config.vision_start_token_id == ids["<|vision_start|>"]
    assert config.vision_end_token_id == ids["<|vision_end|>"]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert model.generation_config.eos_token_id == [ids["<|im_end|>"], ids["<|endoftext|>"]]


def test_tokenizer_round_trips_answer_strings_and_splits_digits(checkpoint):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    for text in ANSWERS:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    # Every digit is its own token, so numeric answers have one token per digit.
    assert len(tokenizer.encode("341562")) == 6
    # The task wording is in the training corpus, so common words are single tokens.
    assert len(tokenizer.encode(" circles")) == 1 and len(tokenizer.encode(" video")) == 1
    # Special tokens are atomic.
    for token in SPECIAL_TOKENS:
        assert tokenizer.encode(token) == [tokenizer.convert_tokens_to_ids(token)]


def test_chat_template_renders_video_and_image_placeholders(checkpoint):
    from transformers import AutoProcessor, AutoTokenizer

    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "video", "video": ["a.jpg"]}, {"type": "text", "text": "What?"}]},
        {"role": "assistant", "content": "3,1,4"},
        {"role": "user", "content": [{"type": "image", "image": "b.jpg"}, {"type": "text", "text": "And?"}]},
    ]
    expected = (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>What?<|im_end|>\n"
        "<|im_start|>assistant\n3,1,4<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>And?<|im_end|>\n"
    )
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    processor = AutoProcessor.from_pretrained(checkpoint)
    assert tokenizer.apply_chat_template(messages, tokenize=False) == expected
    assert processor.apply_chat_template(messages, tokenize=False) == expected
    with_prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert with_prompt == expected + "<|im_start|>assistant\n"


# ----------------------------------------------------------------------------------------------
# The real video path
# ----------------------------------------------------------------------------------------------


def test_video_path_expands_the_placeholder_to_the_video_grid(loaded, video_inputs):
    processor, model = loaded
    _, inputs = video_inputs
    grid = inputs["video_grid_thw"]
    assert grid.tolist()[0][0] == NUM_FRAMES // 2  # 2-frame temporal patches
    num_pads = int((inputs["input_ids"] == model.config.video_token_id).sum())
    assert num_pads == int(grid.prod()) // processor.video_processor.merge_size**2
    assert inputs["pixel_values_videos"].shape[0] == int(grid.prod())


def test_video_timing_in_the_inputs_follows_sample_fps(loaded, family, video_inputs):
    processor, _ = loaded
    _, inputs = video_inputs
    if family == "qwen2_5_vl":
        # Qwen2.5-VL gets the duration of a temporal patch (2 frames) for its time positions.
        assert inputs["second_per_grid_ts"] == pytest.approx([2 / SAMPLE_FPS])
        return
    # Qwen3-VL writes a timestamp before each temporal patch: frame pair k holds frames 2k and
    # 2k+1, so its time is their mean, (2k + 0.5) / fps, printed with one decimal.
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    expected = [f"<{(2 * k + 0.5) / SAMPLE_FPS:.1f} seconds>" for k in range(NUM_FRAMES // 2)]
    assert expected == ["<0.1 seconds>", "<0.4 seconds>", "<0.7 seconds>", "<1.0 seconds>"]
    positions = [text.index(stamp + "<|vision_start|><|video_pad|>") for stamp in expected]
    assert positions == sorted(positions)
    assert text.count(" seconds>") == NUM_FRAMES // 2


def test_forward_loss_is_finite_and_backward_reaches_the_vision_tower(loaded, video_inputs):
    import torch

    _, model = loaded
    _, inputs = video_inputs
    labels = inputs["input_ids"].clone()
    labels[labels == model.config.video_token_id] = -100  # as in training: no loss on vision tokens
    model.zero_grad()
    model.train()
    try:
        loss = model(**inputs, labels=labels).loss
        loss.backward()
    finally:
        model.eval()
    assert torch.isfinite(loss)
    vision_grads = [p.grad for name, p in model.named_parameters() if "visual" in name]
    assert vision_grads and all(g is not None and torch.isfinite(g).all() for g in vision_grads)
    assert any(g.abs().sum() > 0 for g in vision_grads)  # the video really feeds the loss
    assert model.lm_head.weight.grad.abs().sum() > 0
    model.zero_grad()


def test_generate_returns_new_tokens(loaded, video_inputs):
    import torch

    processor, model = loaded
    _, inputs = video_inputs
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    prompt_length = inputs["input_ids"].shape[1]
    assert output.shape[0] == 1 and prompt_length < output.shape[1] <= prompt_length + 5
    assert torch.equal(output[0, :prompt_length], inputs["input_ids"][0])
    assert isinstance(processor.batch_decode(output[:, prompt_length:], skip_special_tokens=True)[0], str)


# ----------------------------------------------------------------------------------------------
# Determinism, idempotence, folder safety, tiny_model_dir and the CLI
# ----------------------------------------------------------------------------------------------


def load_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def test_same_seed_gives_identical_files_and_other_seed_other_weights(checkpoint, family, tmp_path):
    import torch

    rng_before = torch.random.get_rng_state()
    again = build_tiny_model(family, tmp_path / "again", seed=0)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the caller's RNG is untouched
    first, second = load_tensors(checkpoint), load_tensors(again)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    for name in ("tokenizer.json", "config.json", "processor_config.json", "chat_template.jinja"):
        assert (checkpoint / name).read_bytes() == (again / name).read_bytes(), name

    # Another seed replaces the checkpoint in place, with other weights.
    build_tiny_model(family, again, seed=1)
    assert json.loads((again / MARKER_NAME).read_text())["seed"] == 1
    reseeded = load_tensors(again)
    assert not torch.equal(first["lm_head.weight"], reseeded["lm_head.weight"])


def test_second_build_with_same_family_and_seed_is_a_no_op(checkpoint, family, monkeypatch):
    mtimes = {path.name: path.stat().st_mtime_ns for path in checkpoint.iterdir()}

    def must_not_build(*args, **kwargs):
        raise AssertionError("rebuilt a finished checkpoint")

    monkeypatch.setattr(tiny_models, "_write_checkpoint", must_not_build)
    assert build_tiny_model(family, checkpoint, seed=0) == checkpoint
    assert tiny_model_dir(family, cache_root=checkpoint.parent) == checkpoint
    assert {path.name: path.stat().st_mtime_ns for path in checkpoint.iterdir()} == mtimes


def test_unknown_family_is_a_value_error_naming_the_valid_ones(tmp_path):
    for call in (lambda: build_tiny_model("llava", tmp_path / "x"), lambda: tiny_model_dir("llava", tmp_path)):
        with pytest.raises(ValueError, match="qwen2_5_vl, qwen3_vl"):
            call()
    assert not (tmp_path / "x").exists()


def test_non_empty_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_tiny_model("qwen3_vl", tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_cli_prints_the_folder_of_each_family(checkpoint, family, cache_root):
    # The folder is already built, so this run only checks the marker (no torch import).
    result = run_cli("--output-dir", str(cache_root), "--family", family)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(cache_root / family)]


def test_cli_errors_are_one_line_with_status_2(tmp_path):
    bad_family = run_cli("--output-dir", str(tmp_path), "--family", "llava")
    assert bad_family.returncode == 2 and bad_family.stderr.count("\n") == 1
    assert "qwen3_vl" in bad_family.stderr

    (tmp_path / "qwen3_vl").mkdir()
    (tmp_path / "qwen3_vl" / "notes.txt").write_text("mine")
    foreign = run_cli("--output-dir", str(tmp_path), "--family", "qwen3_vl")
    assert foreign.returncode == 2 and foreign.stderr.count("\n") == 1
    assert foreign.stderr.startswith("make_tiny_models.py: error:") and "refusing to overwrite" in foreign.stderr
