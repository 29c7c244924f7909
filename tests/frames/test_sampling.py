"""The frame plan of SPEC §2: the released code's arithmetic, and the model's clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videossr.errors import ConfigError, VideoError
from videossr.frames.plan import model_time_s, plan_central_sampling, sample_fps_of


def released_code_indices(total_frames: int, num_frames: int = 48) -> list[int] | None:
    """The released sample_frames.py, transcribed: None where it skips the video."""
    start_frame = int(total_frames * 0.05)
    end_frame = int(total_frames * 0.95)
    effective = end_frame - start_frame
    if effective < num_frames:
        return None
    interval = effective // num_frames
    return [start_frame + i * interval for i in range(num_frames)]


@pytest.mark.parametrize(
    "num_source_frames, expected_start, expected_step",
    [
        (132, 6, 2),  # bigbuckbunny.mp4: window 6..125
        (250, 12, 4),  # bikes.mp4: window 12..237
        (120, 6, 2),  # carphone: window 6..114
        (54, 2, 1),  # smallest video with a 48-frame window: 2..51
        (18_000, 900, 337),  # 10 minutes at 30 fps
    ],
)
def test_plan_matches_known_videos(num_source_frames, expected_start, expected_step):
    plan = plan_central_sampling(num_source_frames)
    assert plan.frame_indices[0] == expected_start
    assert plan.step == expected_step
    assert len(plan.frame_indices) == 48


@given(st.integers(min_value=0, max_value=200_000), st.integers(min_value=1, max_value=64))
def test_plan_is_the_released_arithmetic_for_every_length(num_source_frames, num_frames):
    expected = released_code_indices(num_source_frames, num_frames)
    if expected is None:
        with pytest.raises(VideoError, match="too short"):
            plan_central_sampling(num_source_frames, num_frames)
        return
    plan = plan_central_sampling(num_source_frames, num_frames)
    assert list(plan.frame_indices) == expected
    # Every picked frame lies in the central window, evenly spaced.
    assert plan.window_start_idx <= plan.frame_indices[0]
    assert plan.frame_indices[-1] < plan.window_end_idx <= num_source_frames
    assert all(b - a == plan.step for a, b in zip(plan.frame_indices, plan.frame_indices[1:]))


def test_too_short_video_names_its_length():
    with pytest.raises(VideoError, match=r"40 frames.*36 < 48"):
        plan_central_sampling(40)


def test_zero_frames_requested_is_a_config_error():
    with pytest.raises(ConfigError):
        plan_central_sampling(100, 0)


def test_sample_fps_is_the_true_rate_not_the_released_estimate():
    # bikes.mp4: 250 frames at 25 fps, step 4. The released code declared 48 / 10 s = 4.8 fps;
    # the frames are really 4 source frames = 0.16 s apart, i.e. 6.25 fps.
    assert sample_fps_of(25, 4) == 6.25
    assert model_time_s(47, 6.25) == pytest.approx(47 * 0.16)


def test_sample_fps_rejects_a_zero_step():
    with pytest.raises(ValueError):
        sample_fps_of(25, 0)
