"""Long videos are decoded once per protocol, not once per question (bounded cache, worker processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from media import REPO_ROOT, SAMPLE_VIDEO_DIR

from videossr.errors import ConfigError, VideoError
from videossr.eval.external import FrameCache, Protocol, RequestMaker, VideoLookup, group_by_video, video_input

BIKES = SAMPLE_VIDEO_DIR / "bikes.mp4"
CARPHONE = SAMPLE_VIDEO_DIR / "carphone_pristine.mp4"
PROTOCOL = Protocol(max_frames=8)


def _same(a, b) -> bool:
    (video_a, duration_a), (video_b, duration_b) = a, b
    return (
        duration_a == duration_b
        and video_a.sample_fps == video_b.sample_fps
        and len(video_a.frames) == len(video_b.frames)
        and all(np.array_equal(x, y) for x, y in zip(video_a.frames, video_b.frames))
    )


def test_k_questions_of_one_video_decode_it_once_with_the_same_frames():
    with FrameCache(max_videos=4) as cache:
        results = [cache.get(BIKES, PROTOCOL) for _ in range(5)]
        assert cache.decodes == 1
        assert _same(results[0], video_input(BIKES, PROTOCOL))
        cache.get(BIKES, Protocol(max_frames=16))  # another protocol: another decode
        assert cache.decodes == 2


def test_threads_asking_for_a_video_being_decoded_wait_for_that_decode():
    with FrameCache(max_videos=4) as cache, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cache.get(BIKES, PROTOCOL), range(8)))
    assert cache.decodes == 1 and all(r[0] is results[0][0] for r in results)


def test_the_cache_is_bounded_oldest_dropped_first():
    with FrameCache(max_videos=1) as cache:
        for path in (BIKES, CARPHONE, BIKES):
            cache.get(path, PROTOCOL)
        assert cache.decodes == 3


def test_a_broken_video_is_read_once_and_fails_every_question(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with FrameCache() as cache:
        for _ in range(3):
            with pytest.raises(VideoError):
                cache.get(broken, PROTOCOL)
        assert cache.decodes == 1


def test_worker_processes_decode_the_same_frames_and_prefetch_ahead():
    with FrameCache(max_videos=4, workers=1) as cache:
        cache.prefetch(CARPHONE, PROTOCOL)
        assert cache.decodes == 1
        assert _same(cache.get(CARPHONE, PROTOCOL), video_input(CARPHONE, PROTOCOL))
        assert cache.decodes == 1  # the prefetched decode was used
        assert _same(cache.get(BIKES, PROTOCOL), video_input(BIKES, PROTOCOL))


def test_the_maker_queues_the_current_video_before_the_next_ones_and_stays_within_the_cache(tmp_path):
    # Prefetch order is decode order: the video being asked about must not wait behind the next ones.
    records = [
        {"id": str(k), "video": v, "question": "a bike.", "ground_truth": "1 - 2"}
        for k, v in enumerate(["bikes", "carphone_pristine", "bikes"])
    ]
    queued = []

    class Recording(FrameCache):
        def _entry(self, path, protocol, clip_s=None):
            queued.append(path.stem)
            return super()._entry(path, protocol, clip_s)

    with Recording(max_videos=4) as cache:
        maker = RequestMaker("vtg", records, VideoLookup(SAMPLE_VIDEO_DIR), PROTOCOL, cache, group_by_video(records))
        assert maker.lookahead == cache.parallelism
        maker("0")
        assert queued[:2] == ["bikes", "carphone_pristine"] and cache.decodes == 2
    with FrameCache(max_videos=1) as cache:
        assert RequestMaker("vtg", records, VideoLookup(SAMPLE_VIDEO_DIR), PROTOCOL, cache).lookahead == 0
    with pytest.raises(RuntimeError, match="closed"):
        cache.get(BIKES, PROTOCOL)


def test_bad_cache_settings_are_errors():
    with pytest.raises(ConfigError, match="--cache-videos must be >= 1"):
        FrameCache(max_videos=0)
    with pytest.raises(ConfigError, match="--decode-workers must be >= 0"):
        FrameCache(workers=-1)


def test_questions_are_grouped_by_video_in_order_of_first_appearance():
    records = [
        {"id": "1", "video": "a"},
        {"id": "2", "video": "b"},
        {"id": "3", "video": "a"},
        {"id": "4", "video": "c"},
        {"id": "5", "video": "b"},
    ]
    assert group_by_video(records) == ["1", "3", "2", "5", "4"]


def test_request_maker_decodes_each_video_once_for_all_its_questions():
    records = [
        {"id": str(k), "video": v, "question": "a bike.", "ground_truth": "1 - 2"}
        for k, v in enumerate(["bikes", "carphone_pristine", "bikes", "not_there", "bikes"])
    ]
    with FrameCache() as cache:
        maker = RequestMaker("vtg", records, VideoLookup(SAMPLE_VIDEO_DIR), PROTOCOL, cache, group_by_video(records))
        requests = [maker(i) for i in ["0", "2", "4", "1"]]
        with pytest.raises(VideoError, match="not_there"):
            maker("3")
    assert cache.decodes == 2 and requests[0].videos[0] is requests[2].videos[0]
    assert requests[0].hints["duration_s"] == pytest.approx(10.0)


@pytest.mark.slow
def test_vtg_cli_with_decode_workers_scores_like_the_in_process_path(tmp_path):
    bench = tmp_path / "vtg.json"
    bench.write_text(
        json.dumps(
            [
                {"video": v, "question": "a bike passes.", "ground_truth": "2.0 - 6.0"}
                for v in ["bikes", "bikes", "carphone_pristine", "bikes"]
            ]
        )
    )
    summaries = []
    for workers in ("0", "2"):
        run = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "eval" / "vtg.py"),
                "--benchmark",
                str(bench),
                "--video-dir",
                str(SAMPLE_VIDEO_DIR),
                "--backend",
                "random",
                "--output-dir",
                str(tmp_path / workers),
                "--decode-workers",
                workers,
                "--cache-videos",
                "1",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert run.returncode == 0, run.stderr
        summaries.append(json.loads((tmp_path / workers / "summary.json").read_text()))
    assert summaries[0]["num_items"] == 4 and summaries[0]["num_errors"] == 0
    assert summaries[0]["miou"] == pytest.approx(summaries[1]["miou"])


def test_a_clip_samples_only_its_part_of_the_video():
    # bikes.mp4: 250 frames at 25 fps. The clip 2-4 s is source frames 50..100.
    video, duration = video_input(BIKES, PROTOCOL, (2.0, 4.0))
    assert duration == pytest.approx(51 / 25)
    whole, _ = video_input(BIKES, PROTOCOL)
    assert not np.array_equal(video.frames[0], whole.frames[0])
    from videossr.frames.plan import clip_frame_range, eval_frame_indices

    assert clip_frame_range(250, 25.0, (2.0, 4.0)) == (50, 100)
    assert clip_frame_range(250, 25.0, (9.0, 99.0)) == (225, 249)  # past the end: cut to the video
    assert clip_frame_range(250, 25.0, (5.0, float("inf"))) == (125, 249)
    assert clip_frame_range(250, 25.0, None) == (0, 249)
    first = [50 + i for i in eval_frame_indices(51, 25.0, 8)][0]
    reference = video_input(BIKES, Protocol(max_frames=2), (first / 25, first / 25))[0].frames[0]
    assert np.array_equal(video.frames[0], reference)  # the clip's first sampled frame is source frame 50


def test_clip_bounds_are_validated_and_cached_separately():
    from videossr.eval.external import validate_records

    good = {
        "id": "g",
        "video": "bikes",
        "question": "q\nA. a\nB. b",
        "ground_truth": "A",
        "clip_start_s": 2.0,
        "clip_end_s": 4.0,
    }
    bad = dict(good, id="b", clip_start_s=5.0, clip_end_s=1.0)
    with pytest.raises(ConfigError, match="b: clip 5.0 - 1.0 s needs 0 <= clip_start_s <= clip_end_s"):
        validate_records([good, bad], "vqa")
    with FrameCache() as cache:
        maker = RequestMaker(
            "vqa",
            [good, dict(good, id="w", clip_start_s=None, clip_end_s=None)],
            VideoLookup(SAMPLE_VIDEO_DIR),
            PROTOCOL,
            cache,
        )
        maker("g"), maker("w"), maker("g")
        assert cache.decodes == 2
