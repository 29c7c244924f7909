"""Frame-exact decoding: the frame written as index i is source frame frame_indices[i]."""

from __future__ import annotations

import numpy as np
import pytest
from media import packet_times_s, reference_luma_frames

from videossr.errors import VideoError
from videossr.frames.plan import plan_central_sampling
from videossr.video.decoder import DecodeStats, decode_frames, probe_video

GOOD_VIDEOS = [
    "h264_bframes",
    "h264_open_gop",
    "hevc_mkv",
    "vp9_webm_odd_size",
    "mpeg4_avi",
    "ffv1_mkv_odd_size",
    "vfr_mp4",
    "truncated_readable",
]


def decode_luma(path, frame_indices, stats=None, threads=1):
    probe = probe_video(path)
    decoded = decode_frames(probe, frame_indices, pixel_format="gray8", stats=stats, threads=threads)
    return [d.image for d in decoded]


@pytest.mark.slow
@pytest.mark.parametrize("name", GOOD_VIDEOS)
def test_sampled_frames_equal_a_frame_accurate_reference_decode(catalogue, name):
    path = catalogue[name]
    reference = reference_luma_frames(path)
    probe = probe_video(path)
    assert probe.num_frames == len(reference)
    plan = plan_central_sampling(probe.num_frames)
    frames = decode_luma(path, plan.frame_indices)
    assert len(frames) == 48
    for frame_idx, frame in zip(plan.frame_indices, frames):
        assert np.array_equal(frame, reference[frame_idx]), f"{name}: frame {frame_idx} differs"


@pytest.mark.slow
def test_bundled_sample_videos_decode_exactly(sample_videos):
    for path in sample_videos:
        reference = reference_luma_frames(path)
        plan = plan_central_sampling(len(reference))
        for frame_idx, frame in zip(plan.frame_indices, decode_luma(path, plan.frame_indices)):
            assert np.array_equal(frame, reference[frame_idx]), f"{path.name}: frame {frame_idx} differs"


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["h264_bframes", "vfr_mp4", "hevc_mkv"])
def test_arbitrary_frame_sets_decode_exactly(catalogue, name, threads):
    # Dense runs, single frames, first and last frame: every seek/decode-on decision is exercised.
    path = catalogue[name]
    reference = reference_luma_frames(path)
    n = len(reference)
    rng = np.random.default_rng(7)
    for indices in ([0], [n - 1], list(range(n)), sorted(rng.choice(n, 9, replace=False).tolist()), [1, 2, n - 2]):
        frames = decode_luma(path, indices, threads=threads)
        assert all(np.array_equal(f, reference[i]) for i, f in zip(indices, frames)), indices


def test_variable_frame_rate_indices_follow_timestamps_not_average_fps(catalogue):
    path = catalogue["vfr_mp4"]
    probe = probe_video(path)
    times = packet_times_s(path)
    assert probe.num_frames == len(times) == 100
    # Frame 80 is 2.0 s + 20 * 0.1 s in; average-rate seeking (100 frames / 5.9 s) would look at 4.6 s.
    assert probe.frame_time_s(80) == pytest.approx(times[80] - times[0]) == pytest.approx(4.0)


def test_header_frame_count_is_not_trusted_on_a_truncated_file(catalogue):
    probe = probe_video(catalogue["truncated_readable"])
    packets_in_file = len(packet_times_s(catalogue["truncated_readable"]))
    # The packet cut in half is not a frame (newer FFmpeg flags it corrupt; the CLI's may not).
    assert packets_in_file - 1 <= probe.num_frames <= packets_in_file
    assert probe.num_frames < 150  # the header still claims the full 8 s: 200 frames


def test_non_reference_frames_that_are_not_wanted_are_not_decoded(catalogue):
    stats = DecodeStats()
    path = catalogue["h264_bframes"]
    indices = plan_central_sampling(probe_video(path).num_frames).frame_indices
    decode_luma(path, indices, stats)
    assert not stats.fell_back_to_sequential
    # 48 wanted frames; the span holds 3x as many, and B-frames between them are skipped.
    assert 48 <= stats.frames_decoded < stats.packets_sent


def test_rotated_video_comes_out_upright(catalogue):
    upright = decode_luma(catalogue["h264_bframes"], [5])[0]
    probe = probe_video(catalogue["rotated_90"])
    (decoded,) = decode_frames(probe, [5], pixel_format="gray8")
    assert decoded.quarter_turns == 1
    assert decoded.image.shape == (upright.shape[1], upright.shape[0])
    assert np.array_equal(decoded.image, np.rot90(upright, 1))


def test_frames_shrink_to_the_pixel_budget_keeping_aspect(catalogue):
    probe = probe_video(catalogue["h264_bframes"])  # 320x240
    (decoded,) = decode_frames(probe, [3], max_pixels=160 * 120)
    assert decoded.image.shape == (120, 160, 3)
    assert decoded.image.dtype == np.uint8


@pytest.mark.parametrize(
    "name, reason",
    [
        ("zero_bytes", "empty file"),
        ("text_as_mp4", "unreadable"),
        ("truncated_unreadable", "unreadable"),
        ("audio_only", "no video stream"),
    ],
)
def test_bad_files_raise_a_video_error_with_a_reason(catalogue, name, reason):
    with pytest.raises(VideoError, match=reason):
        probe_video(catalogue[name])


def test_missing_file_raises_a_video_error(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe_video(tmp_path / "nope.mp4")


def test_damaged_stream_reports_the_frame_it_could_not_decode(catalogue, tmp_path):
    data = bytearray(catalogue["h264_bframes"].read_bytes())
    rng = np.random.default_rng(0)
    # Overwrite the middle of the media data (the index at the end stays intact).
    start = len(data) // 3
    data[start : start + len(data) // 3] = rng.integers(0, 256, len(data) // 3, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    probe = probe_video(damaged)
    with pytest.raises(VideoError, match="damaged stream"):
        list(decode_frames(probe, range(probe.num_frames)))


def test_requested_indices_must_be_increasing_and_in_range(catalogue):
    probe = probe_video(catalogue["h264_bframes"])
    with pytest.raises(ValueError, match="increasing"):
        list(decode_frames(probe, [5, 3]))
    with pytest.raises(ValueError, match=r"\[0, 200\)"):
        list(decode_frames(probe, [199, 200]))
