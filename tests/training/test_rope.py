"""Qwen2.5-VL's rotary positions on the rollout's clock (videossr/qwen_vl/rope.py).

The CPU-vLLM parity run (tests/training/test_rollout_parity.py) compares these positions with
vLLM's own ``get_mrope_input_positions`` token by token; here the rule itself, on numbers worked
out by hand, and the binding to a real Qwen2.5-VL processor the way verl's agent loop calls it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videossr.qwen_vl.rope import (
    qwen2_5_vl_position_ids,
    rollout_mm_processor_kwargs,
    seconds_dtype,
    use_model_clock,
)

TEXT, VIDEO, IMAGE = 7, 9, 8


def positions(ids, seconds, **grids):
    return qwen2_5_vl_position_ids(
        ids,
        image_token_id=IMAGE,
        video_token_id=VIDEO,
        second_per_grid_ts=seconds,
        tokens_per_second=2,
        spatial_merge_size=2,
        **grids,
    )


def test_a_video_spaces_its_patches_by_seconds_and_the_text_goes_on_past_its_largest_position():
    # 3 text tokens, a video of 3 temporal patches x (4/2 x 2/2) merged tokens at 1.5 s a patch, 2 text.
    ids = [TEXT] * 3 + [VIDEO] * 6 + [TEXT] * 2
    got = positions(ids, [1.5], video_grid_thw=[(3, 4, 2)])
    time = [0, 1, 2] + [3 + 3 * k for k in (0, 0, 1, 1, 2, 2)] + [10, 11]  # floor(k * 1.5 * 2) = 3k
    height = [0, 1, 2] + [3, 4, 3, 4, 3, 4] + [10, 11]
    width = [0, 1, 2] + [3] * 6 + [10, 11]
    assert got.tolist() == [time, height, width]


def test_the_seconds_are_floored_as_vllm_floors_them_after_its_bf16_cast():
    # 26 patches at 12.5 fps: 0.16 s a patch. In float32 patch 25 sits at floor(7.99999...) = 7;
    # vLLM holds 0.16 as bf16 0.16015625, which puts it at floor(8.0078) = 8.
    ids = [VIDEO] * 26
    float32 = torch.tensor(0.16, dtype=torch.float32).item()
    bf16 = torch.tensor(0.16, dtype=torch.float32).to(torch.bfloat16).item()
    assert bf16 == 0.16015625
    assert positions(ids, [float32], video_grid_thw=[(26, 2, 2)])[0, 25] == 7
    assert positions(ids, [bf16], video_grid_thw=[(26, 2, 2)])[0, 25] == 8
    # No seconds (or 0) means 1 s a patch, as in vLLM.
    assert positions(ids, None, video_grid_thw=[(26, 2, 2)])[0].tolist() == [2 * k for k in range(26)]


def test_images_have_no_time_and_runs_that_do_not_match_the_grids_are_refused():
    got = positions([TEXT, IMAGE, IMAGE, IMAGE, IMAGE, TEXT], None, image_grid_thw=[(1, 4, 4)])
    assert got.tolist() == [[0, 1, 1, 1, 1, 3], [0, 1, 1, 2, 2, 3], [0, 1, 2, 1, 2, 3]]
    with pytest.raises(ValueError, match="does not hold"):
        positions([VIDEO] * 5, [1.0], video_grid_thw=[(1, 4, 4)])
    with pytest.raises(ValueError, match="more video token runs"):
        positions([VIDEO] * 4 + [TEXT] + [VIDEO] * 4, [1.0, 1.0], video_grid_thw=[(1, 4, 4)])
    with pytest.raises(ValueError, match="2 grids but 1 runs"):
        positions([VIDEO] * 4, [1.0, 1.0], video_grid_thw=[(1, 4, 4), (1, 4, 4)])


@pytest.fixture(scope="module")
def processors(tiny_model):
    """Each family's tiny processor as verl loads it (``hf_processor`` binds ``config`` and ``get_rope_index``)."""
    from verl.utils import hf_processor

    return {family: hf_processor(str(tiny_model(family))) for family in ("qwen2_5_vl", "qwen3_vl")}


def _video_prompt(processor, fps: float = 12.5, frames: int = 8):
    """A one-video prompt through the processor, as verl's agent loop builds it (metadata, no re-sampling)."""
    video = torch.randint(0, 255, (frames, 3, 56, 56), dtype=torch.uint8).float()
    metadata = {"fps": fps, "frames_indices": list(range(frames)), "total_num_frames": frames}
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Count."}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    inputs = processor(
        text=[text], videos=[video], video_metadata=[metadata], do_sample_frames=False, return_tensors="pt"
    )
    return inputs, (video, metadata)


def test_verls_processor_gets_the_rollouts_clock_and_left_padding_is_skipped(processors):
    processor = processors["qwen2_5_vl"]
    assert use_model_clock(processor, "bfloat16") is True
    inputs, _ = _video_prompt(processor)
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([0.16])
    # What AgentLoopWorker._compute_position_ids does, on a left-padded row.
    ids = torch.cat([torch.zeros((1, 2), dtype=torch.long), inputs["input_ids"]], dim=1)
    mask = torch.cat([torch.zeros((1, 2), dtype=torch.long), inputs["attention_mask"]], dim=1)
    extra = processor.get_rope_index_kwargs(dict(inputs))
    assert extra["second_per_grid_ts"].dtype == torch.bfloat16
    got, deltas = processor.get_rope_index(
        input_ids=ids, attention_mask=mask, video_grid_thw=inputs["video_grid_thw"], **extra
    )
    assert got.shape == (3, 1, ids.shape[1]) and got[:, 0, :2].tolist() == [[0, 0]] * 3
    expected = qwen2_5_vl_position_ids(
        inputs["input_ids"][0].tolist(),
        image_token_id=processor.image_token_id,
        video_token_id=processor.video_token_id,
        video_grid_thw=inputs["video_grid_thw"].tolist(),
        second_per_grid_ts=[0.16015625],
        tokens_per_second=processor.config.vision_config.tokens_per_second,
        spatial_merge_size=2,
    )
    assert np.array_equal(got[:, 0, 2:].numpy(), expected)
    assert deltas.tolist() == [[int(expected.max()) + 1 - expected.shape[1]]]
    # Binding twice changes nothing.
    assert use_model_clock(processor, "bfloat16") is True
    again, _ = processor.get_rope_index(
        input_ids=ids, attention_mask=mask, video_grid_thw=inputs["video_grid_thw"], **extra
    )
    assert torch.equal(again, got)


def test_only_qwen2_5_vl_changes_and_vllm_gets_the_videos_metadata(processors):
    qwen3 = processors["qwen3_vl"]
    bound = qwen3.get_rope_index
    assert use_model_clock(qwen3, "bfloat16") is False and qwen3.get_rope_index == bound
    assert not hasattr(qwen3, "get_rope_index_kwargs")
    _, video = _video_prompt(processors["qwen2_5_vl"])
    assert rollout_mm_processor_kwargs(qwen3, [video]) == {}
    assert rollout_mm_processor_kwargs(processors["qwen2_5_vl"], [video, video]) == {
        "video_metadata": [video[1], video[1]],
        "do_sample_frames": False,
    }
    # A video without metadata (bare frames): nothing to hand over, vLLM's own default stands.
    assert rollout_mm_processor_kwargs(processors["qwen2_5_vl"], [video, video[0]]) == {}
    assert rollout_mm_processor_kwargs(processors["qwen2_5_vl"], None) == {}


@pytest.mark.parametrize(
    "rollout, checkpoint, expected",
    [("bfloat16", "float32", torch.bfloat16), ("auto", "float16", torch.float16), (None, None, torch.float32)],
)
def test_the_seconds_are_held_in_the_rollouts_dtype(rollout, checkpoint, expected):
    class Config:
        dtype = checkpoint

    assert seconds_dtype(Config(), rollout) is expected
