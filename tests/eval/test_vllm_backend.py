"""The vLLM backend: input preparation (CPU, tiny checkpoints), worker processes, GPU end to end.

vLLM itself is not installed in the CPU environment. What can be checked without it is checked
for real: the prompt dicts on tiny Qwen2.5-VL / Qwen3-VL checkpoints and real JPEG frames, the HF
processor call vLLM 0.24 makes with them (geometry, timestamps, ``second_per_grid_ts``), the
data-parallel worker machinery with real spawned processes (through the ``engine_factory`` seam,
with a stand-in engine defined here), and the start-up failure when vLLM is missing. The ``gpu``
tests run the real engine when a GPU, vLLM and ``VIDEOSSR_TEST_VLLM_MODEL`` are there.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from videossr.errors import ConfigError
from videossr.eval.backends.base import Generation, Request, VideoInput, build_messages, vision_inputs
from videossr.eval.backends.vllm_backend import VLLMBackend, gpu_groups, visible_gpu_ids
from videossr.eval.backends.vllm_prompt import (
    VIDEO_PLACEHOLDER_TOKENS,
    image_patch_size,
    prepare_vllm_prompt,
    video_family,
)
from videossr.testing.tiny_models import FAMILIES

VLLM_INSTALLED = importlib.util.find_spec("vllm") is not None
FAKE_ENGINE = "test_vllm_backend:FakeEngine"
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 96 * 28 * 28


# --------------------------------------------------------------------------------------------
# Fixtures: tiny checkpoints and real JPEG clips
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dirs(tiny_model) -> dict[str, Path]:
    return {family: tiny_model(family) for family in FAMILIES}


@pytest.fixture(scope="module")
def processors(model_dirs):
    from transformers import AutoProcessor

    return {family: AutoProcessor.from_pretrained(path) for family, path in model_dirs.items()}


def write_clip(folder: Path, num_frames: int, height: int = 90, width: int = 160, seed: int = 0) -> tuple[str, ...]:
    """``num_frames`` JPEGs of a moving square over a noisy gradient; their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    paths = []
    for i in range(num_frames):
        frame = np.stack([xs * 255 // width, ys * 255 // height, np.full_like(xs, 40 * i % 256)], axis=-1)
        frame = (frame + rng.integers(0, 30, frame.shape)).clip(0, 255).astype(np.uint8)
        x0 = (10 + 12 * i) % (width - 20)
        frame[20:40, x0 : x0 + 20] = (255, 255, 255)
        path = folder / f"{i:04d}.jpg"
        assert cv2.imwrite(str(path), frame)
        paths.append(str(path))
    return tuple(paths)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[tuple[str, ...]]:
    """Six clips of 2..7 frames (odd counts get padded by qwen-vl-utils), in different sizes."""
    root = tmp_path_factory.mktemp("vllm_clips")
    sizes = [(90, 160), (120, 120), (64, 200), (100, 140), (72, 96), (150, 110)]
    return [write_clip(root / f"clip{k}", k + 2, *sizes[k], seed=k) for k in range(6)]


def video(frames, sample_fps: float = 2.0) -> VideoInput:
    return VideoInput(frames=tuple(frames), sample_fps=sample_fps, max_pixels=MAX_PIXELS, min_pixels=MIN_PIXELS)


def one_video_request(clips, sample_fps: float = 2.0) -> Request:
    return Request("one", "Watch this.\n<video>\nHow many squares?", (video(clips[4], sample_fps),), max_new_tokens=8)


SIX_FPS = (1.0, 2.0, 4.0, 0.5, 3.0, 2.0)


def six_video_request(clips) -> Request:
    text = "Order the clips." + "".join(f"\nClip {k + 1}: <video>" for k in range(6)) + "\nAnswer with six digits."
    return Request("six", text, tuple(video(c, fps) for c, fps in zip(clips, SIX_FPS)), system="Be brief.")


def expected_frames(num_jpegs: int) -> int:
    return 2 * math.ceil(num_jpegs / 2)  # qwen-vl-utils pads to whole temporal patches


# --------------------------------------------------------------------------------------------
# prepare_vllm_prompt
# --------------------------------------------------------------------------------------------


def check_item(item, *, patch_size: int, sample_fps: float, num_jpegs: int, family: str):
    frames, metadata = item
    assert isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.ndim == 4
    t, h, w, c = frames.shape
    assert c == 3 and frames.flags["C_CONTIGUOUS"]
    assert t == expected_frames(num_jpegs)
    assert h % (2 * patch_size) == 0 and w % (2 * patch_size) == 0
    assert h * w <= MAX_PIXELS
    assert metadata["fps"] == sample_fps
    assert metadata["frames_indices"] == list(range(t))
    assert metadata["total_num_frames"] == t and isinstance(metadata["total_num_frames"], int)
    assert metadata["duration"] == pytest.approx(t / sample_fps)
    if family == "qwen3_vl":
        assert metadata["do_sample_frames"] is False


@pytest.mark.parametrize("family", FAMILIES)
def test_one_video_prompt(processors, clips, family):
    processor = processors[family]
    patch = image_patch_size(processor)
    assert patch == {"qwen2_5_vl": 14, "qwen3_vl": 16}[family]
    prompt = prepare_vllm_prompt(one_video_request(clips, 2.5), processor, patch)

    assert set(prompt) == {"prompt_token_ids", "prompt", "multi_modal_data", "mm_processor_kwargs"}
    text = prompt["prompt"]
    assert text.count(VIDEO_PLACEHOLDER_TOKENS) == 1 and text.count("<|video_pad|>") == 1
    assert text.startswith("<|im_start|>user\nWatch this.\n<|vision_start|>")
    assert text.endswith("<|im_start|>assistant\n")
    (item,) = prompt["multi_modal_data"]["video"]
    check_item(item, patch_size=patch, sample_fps=2.5, num_jpegs=len(clips[4]), family=family)
    kwargs = prompt["mm_processor_kwargs"]
    assert kwargs["do_sample_frames"] is False
    if family == "qwen2_5_vl":
        assert kwargs["video_metadata"] == [item[1]]
    else:
        assert "video_metadata" not in kwargs


@pytest.mark.parametrize("family", FAMILIES)
def test_six_video_prompt_keeps_order_and_each_rate(processors, clips, family):
    processor = processors[family]
    patch = image_patch_size(processor)
    request = six_video_request(clips)
    prompt = prepare_vllm_prompt(request, processor)  # patch size read from the processor

    text = prompt["prompt"]
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nOrder the clips.")
    assert text.count(VIDEO_PLACEHOLDER_TOKENS) == 6
    assert all(f"Clip {k + 1}: {VIDEO_PLACEHOLDER_TOKENS}" in text for k in range(6))
    items = prompt["multi_modal_data"]["video"]
    assert len(items) == 6
    for item, clip, fps in zip(items, clips, SIX_FPS):
        check_item(item, patch_size=patch, sample_fps=fps, num_jpegs=len(clip), family=family)
    if family == "qwen2_5_vl":
        assert [m["fps"] for m in prompt["mm_processor_kwargs"]["video_metadata"]] == list(SIX_FPS)


@pytest.mark.parametrize("family", FAMILIES)
def test_frames_are_exactly_the_training_frames(processors, clips, family):
    """The uint8 THWC arrays hold the very pixels qwen-vl-utils gives verl's processor."""
    processor = processors[family]
    request = six_video_request(clips)
    items = prepare_vllm_prompt(request, processor)["multi_modal_data"]["video"]
    _, training = vision_inputs(build_messages(request), image_patch_size(processor))
    for (frames, _), (tensor, _) in zip(items, training):
        assert tensor.dtype.is_floating_point and bool((tensor == tensor.round()).all())
        np.testing.assert_array_equal(frames, tensor.permute(0, 2, 3, 1).numpy().astype(np.uint8))


@pytest.mark.parametrize("family", FAMILIES)
def test_array_frames_work_like_jpegs(processors, clips, family):
    frames = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in clips[1]]
    request = Request("arr", "<video> What moves?", (video(frames, 1.0),))
    (item,) = prepare_vllm_prompt(request, processors[family])["multi_modal_data"]["video"]
    patch = image_patch_size(processors[family])
    check_item(item, patch_size=patch, sample_fps=1.0, num_jpegs=len(frames), family=family)


@pytest.mark.parametrize("family", FAMILIES)
def test_placeholder_and_video_count_mismatch_raises(processors, clips, family):
    too_few = Request("bad", "<video> and <video>", (video(clips[0]),))
    with pytest.raises(ValueError, match="placeholders"):
        prepare_vllm_prompt(too_few, processors[family])
    too_many = Request("bad2", "no placeholder", (video(clips[0]),))
    with pytest.raises(ValueError, match="placeholders"):
        prepare_vllm_prompt(too_many, processors[family])


def test_text_only_request_has_no_multimodal_data(processors):
    prompt = prepare_vllm_prompt(Request("t", "Say hi.", ()), processors["qwen3_vl"])
    assert set(prompt) == {"prompt_token_ids", "prompt"} and "<|vision_start|>" not in prompt["prompt"]


def test_family_detection(processors):
    assert video_family(processors["qwen3_vl"]) == "qwen3_vl"
    assert video_family(processors["qwen2_5_vl"]) == "qwen2_5_vl"
    with pytest.raises(ValueError, match="unsupported processor"):
        video_family(object())


# --------------------------------------------------------------------------------------------
# What vLLM 0.24 does with these inputs (its HF-processor calls, replayed without vLLM)
# --------------------------------------------------------------------------------------------


def strip_vllm_only_keys(metadata: dict) -> dict:
    # vLLM's Qwen3-VL processor removes do_sample_frames before building VideoMetadata(**...).
    return {k: v for k, v in metadata.items() if k != "do_sample_frames"}


def test_qwen3_vl_timestamps_are_frame_index_over_sample_fps_and_no_second_resize(processors, clips):
    """Replays qwen3_vl.py ``_call_hf_processor``: one HF call per video, do_sample_frames from kwargs."""
    processor = processors["qwen3_vl"]
    prompt = prepare_vllm_prompt(six_video_request(clips), processor)
    kwargs = prompt["mm_processor_kwargs"]
    for frames, metadata in prompt["multi_modal_data"]["video"]:
        out = processor(
            text=[VIDEO_PLACEHOLDER_TOKENS],
            videos=[frames],
            video_metadata=[strip_vllm_only_keys(metadata)],
            do_sample_frames=kwargs["do_sample_frames"],
            return_tensors="pt",
        )
        t, h, w = frames.shape[:3]
        # The HF resize kept the qwen-vl-utils size: no second resize, no re-sampling.
        assert out["video_grid_thw"].tolist() == [[t // 2, h // 16, w // 16]]
        # vLLM 0.24 _calculate_timestamps: frames_indices / fps, averaged per temporal patch.
        seconds = [idx / metadata["fps"] for idx in metadata["frames_indices"]]
        expected = [f"<{(seconds[i] + seconds[i + 1]) / 2:.1f} seconds>" for i in range(0, t, 2)]
        text = processor.tokenizer.decode(out["input_ids"][0])
        assert re.findall(r"<[0-9.]+ seconds>", text) == expected


def test_qwen2_5_vl_second_per_grid_follows_sample_fps_and_no_second_resize(processors, clips):
    """Replays vLLM 0.24's Qwen2.5-VL path: arrays without item metadata, the kwargs forwarded."""
    processor = processors["qwen2_5_vl"]
    prompt = prepare_vllm_prompt(six_video_request(clips), processor)
    items = prompt["multi_modal_data"]["video"]
    out = processor(
        text=[prompt["prompt"]],
        videos=[frames for frames, _ in items],
        return_tensors="pt",
        **prompt["mm_processor_kwargs"],
    )
    assert out["second_per_grid_ts"] == pytest.approx([2 / fps for fps in SIX_FPS])
    assert out["video_grid_thw"].tolist() == [[f.shape[0] // 2, f.shape[1] // 14, f.shape[2] // 14] for f, _ in items]
    # Without the metadata kwarg (what vLLM 0.24 alone would do) the rate silently becomes 24 fps.
    arrays = [frames for frames, _ in items]
    bare = processor(text=[prompt["prompt"]], videos=arrays, do_sample_frames=False, return_tensors="pt")
    assert bare["second_per_grid_ts"] == pytest.approx([2 / 24] * 6)


# --------------------------------------------------------------------------------------------
# GPUs and groups
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0,1,3", ["0", "1", "3"]),
        (" 2 , 5 ", ["2", "5"]),
        ("", []),
        ("-1", []),
        ("1,-1,2", ["1"]),
        ("GPU-8f1e,GPU-77aa", ["GPU-8f1e", "GPU-77aa"]),
    ],
)
def test_visible_gpu_ids_honour_cuda_visible_devices(monkeypatch, value, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert visible_gpu_ids() == expected


def test_gpu_groups():
    gpus = ["0", "1", "2", "3", "4", "5", "6", "7"]
    assert gpu_groups(gpus, None, 1) == [[g] for g in gpus]
    assert gpu_groups(gpus, None, 2) == [["0", "1"], ["2", "3"], ["4", "5"], ["6", "7"]]
    assert gpu_groups(gpus, 2, 4) == [["0", "1", "2", "3"], ["4", "5", "6", "7"]]
    assert gpu_groups(gpus[:3], None, 2) == [["0", "1"]]
    assert gpu_groups([], None, 1) == [None]
    assert gpu_groups([], 2, 1) == [None, None]
    with pytest.raises(ConfigError, match="needs 6 GPUs but 4 are visible"):
        gpu_groups(gpus[:4], 3, 2)
    with pytest.raises(ConfigError):
        gpu_groups(gpus, 0, 1)
    with pytest.raises(ConfigError):
        gpu_groups(gpus, None, 0)


# --------------------------------------------------------------------------------------------
# Worker processes, with real vLLM absent
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(VLLM_INSTALLED, reason="vllm is installed here")
@pytest.mark.parametrize("data_parallel_size", [1, 2])
def test_without_vllm_the_backend_fails_fast_with_the_install_hint(model_dirs, monkeypatch, data_parallel_size):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", ",".join(str(i) for i in range(data_parallel_size)))
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"vllm is not installed: pip install -r requirements-gpu\.txt") as info:
        VLLMBackend(str(model_dirs["qwen3_vl"]), data_parallel_size=data_parallel_size, startup_timeout_s=120)
    assert time.monotonic() - started < 90
    assert all(f"vLLM worker {k} (GPUs {k})" in str(info.value) for k in range(data_parallel_size))
    assert "vllm" not in sys.modules


class FakeEngine:
    """Stands in for VLLMEngine in the worker: answers from the request, reports its GPUs.

    Its behaviour is steered by request ids and the model path: ``crash*`` kills the worker
    process on the spot (as a segfault would); model path ``fail-on-<gpus>`` fails start-up on
    that GPU group, ``fail-all`` everywhere.
    """

    def __init__(self, options):
        self.gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
        if options.model_path in ("fail-all", f"fail-on-{self.gpus}"):
            raise OSError(f"cannot load {options.model_path} on {self.gpus}")
        self.vllm_imported = "vllm" in sys.modules

    def generate(self, requests):
        out = []
        for request in requests:
            if request.id.startswith("crash"):
                os._exit(7)
            if request.id.startswith("slow"):
                time.sleep(0.5)
            meta = {"gpus": self.gpus, "pid": os.getpid()}
            out.append(Generation(request.id, response=f"answer {request.id}", meta=meta))
        return out

    def close(self):
        pass


def text_requests(ids) -> list[Request]:
    return [Request(i, f"question {i}", ()) for i in ids]


def test_data_parallel_pins_gpu_groups_and_keeps_input_order(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    requests = text_requests([f"q{k}" for k in range(23)])
    with VLLMBackend("fake-model", tensor_parallel_size=2, batch_size=3, engine_factory=FAKE_ENGINE) as backend:
        assert backend.live_workers == 2
        generations = backend.generate(requests)
        assert [g.id for g in generations] == [r.id for r in requests]
        assert all(g.error is None and g.response == f"answer {g.id}" for g in generations)
        assert {g.meta["gpus"] for g in generations} == {"0,1", "2,3"}
        assert {g.meta["worker"] for g in generations} == {0, 1}
        assert backend.generate([]) == []
        assert [g.id for g in backend.generate(text_requests(["x", "x"]))] == ["x", "x"]  # duplicate ids are fine
        processes = [w.process for w in backend._workers]
    assert all(p.exitcode == 0 for p in processes)  # clean stop through the sentinel
    assert "vllm" not in sys.modules


@pytest.mark.slow
def test_a_crashing_worker_fails_only_its_batches_and_the_rest_complete(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    ids = ["slow0", "slow1", "a", "b", "crash", "c", "d", "e", "f", "g"]
    with VLLMBackend("fake-model", batch_size=1, engine_factory=FAKE_ENGINE) as backend:
        started = time.monotonic()
        generations = backend.generate(text_requests(ids))
        assert time.monotonic() - started < 30
        assert [g.id for g in generations] == ids
        crashed = generations[ids.index("crash")]
        assert crashed.error is not None and "exited with code 7" in crashed.error
        failed = [g.id for g in generations if g.error]
        assert "crash" in failed and len(failed) <= 2  # its own batch and at most one queued behind it
        assert all(g.response == f"answer {g.id}" for g in generations if not g.error)
        assert backend.live_workers == 1
        again = backend.generate(text_requests(["h", "i", "j"]))
        assert [g.response for g in again] == ["answer h", "answer i", "answer j"]


def test_when_every_worker_is_dead_requests_fail_at_once(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with VLLMBackend("fake-model", engine_factory=FAKE_ENGINE) as backend:
        first = backend.generate(text_requests(["a", "crash", "b"]))
        assert all("exited with code 7" in g.error for g in first)  # one batch of three
        started = time.monotonic()
        later = backend.generate(text_requests(["c", "d"]))
        assert time.monotonic() - started < 5
        assert all(g.error and "no vLLM worker is alive" in g.error for g in later)


@pytest.mark.slow
def test_start_up_survives_a_failed_worker_and_fails_when_all_fail(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with VLLMBackend("fail-on-1", engine_factory=FAKE_ENGINE) as backend:
        assert backend.live_workers == 1
        assert {g.meta["gpus"] for g in backend.generate(text_requests(["a", "b", "c"]))} == {"0"}
    with pytest.raises(RuntimeError, match=r"could not start any engine.*OSError: cannot load fail-all on 0.*on 1"):
        VLLMBackend("fail-all", engine_factory=FAKE_ENGINE)


def test_invalid_settings_fail_before_any_process_starts(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(ConfigError, match="needs 4 GPUs"):
        VLLMBackend("fake-model", data_parallel_size=2, tensor_parallel_size=2, engine_factory=FAKE_ENGINE)
    with pytest.raises(ConfigError, match="batch_size"):
        VLLMBackend("fake-model", batch_size=0, engine_factory=FAKE_ENGINE)


def test_close_is_idempotent(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    backend = VLLMBackend("fake-model", engine_factory=FAKE_ENGINE)
    backend.close()
    backend.close()
    assert all(w.process.exitcode is not None for w in backend._workers)


@pytest.mark.slow
def test_exiting_without_close_does_not_hang_and_orphans_stop(tmp_path):
    """A script that forgets close() still exits; workers whose parent vanished stop by themselves."""
    script = tmp_path / "forget.py"
    script.write_text(
        "import os, sys\n"
        f"sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[1])!r}]\n"
        "os.environ['CUDA_VISIBLE_DEVICES'] = '0,1'\n"
        "from videossr.eval.backends.vllm_backend import VLLMBackend\n"
        "from videossr.eval.backends.base import Request\n"
        "if __name__ == '__main__':  # spawned workers re-import the main module\n"
        "    backend = VLLMBackend('fake-model', engine_factory='test_vllm_backend:FakeEngine')\n"
        "    print(' '.join(str(w.process.pid) for w in backend._workers), flush=True)\n"
        "    assert backend.generate([Request('a', 'q', ())])[0].response == 'answer a'\n"
        "    if sys.argv[1] == 'vanish':\n"
        "        os._exit(0)  # no atexit, no finalisers: the workers are orphaned\n"
    )
    import subprocess

    for mode in ("forget", "vanish"):
        command = [sys.executable, str(script), mode]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
        assert done.returncode == 0, done.stderr
        pids = [int(pid) for pid in done.stdout.split()]
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_running(pid) for pid in pids), f"{mode}: workers still running"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as stopped
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# VLLMEngine's request handling, around a stand-in for vllm.LLM
# --------------------------------------------------------------------------------------------


class EngineDeadError(Exception):
    """Named like vLLM's: the engine recognises it by name when vLLM is absent."""


class StubLLM:
    """Plays ``vllm.LLM.generate``: rejects any batch holding a poisoned prompt, as vLLM does."""

    def __init__(self, die: bool = False):
        self.calls: list[int] = []
        self.die = die

    def generate(self, prompts, params, use_tqdm=True):
        from types import SimpleNamespace

        assert use_tqdm is False and len(prompts) == len(params)
        self.calls.append(len(prompts))
        if self.die:
            raise EngineDeadError("engine core died")
        if any("POISON" in p["prompt"] for p in prompts):
            raise ValueError("The decoder prompt (length 99999) is longer than the maximum model length of 8192.")
        return [
            SimpleNamespace(
                prompt_token_ids=list(range(7)),
                outputs=[SimpleNamespace(text=f"  {_videos(p)} videos\n", token_ids=[1, 2], finish_reason="stop")],
            )
            for p in prompts
        ]


def _videos(prompt: dict) -> int:
    return len(prompt.get("multi_modal_data", {}).get("video", []))


def stub_engine(processor, llm, max_videos: int = 6):
    from types import SimpleNamespace

    from videossr.eval.backends.vllm_engine import EngineOptions, VLLMEngine

    engine = VLLMEngine.__new__(VLLMEngine)  # everything __init__ sets, without vLLM
    engine.options = EngineOptions("stub", max_videos_per_prompt=max_videos)
    engine.processor = processor
    engine.family = video_family(processor)
    engine.patch_size = image_patch_size(processor)
    engine.llm = llm
    engine._vllm = SimpleNamespace(SamplingParams=lambda **kwargs: kwargs)
    engine._dead_error = None
    return engine


def test_engine_isolates_bad_requests(processors, clips):
    llm = StubLLM()
    engine = stub_engine(processors["qwen3_vl"], llm)
    requests = [
        one_video_request(clips),
        Request("poison", "POISON <video>", (video(clips[0]),)),
        Request("mismatch", "<video><video>", (video(clips[0]),)),
        Request("missing", "<video>", (video(["/nonexistent/frame.jpg"]),)),
        Request("seven", " ".join(["<video>"] * 7), tuple(video(clips[0]) for _ in range(7))),
        six_video_request(clips),
        Request("text", "Say OK.", ()),
    ]
    generations = engine.generate(requests)
    assert [g.id for g in generations] == [r.id for r in requests]
    by_id = {g.id: g for g in generations}
    assert [by_id[i].response for i in ("one", "six", "text")] == ["1 videos", "6 videos", "0 videos"]
    assert by_id["one"].meta == {"prompt_tokens": 7, "completion_tokens": 2, "finish_reason": "stop"}
    assert by_id["poison"].error.startswith("vllm: ValueError: The decoder prompt")
    assert by_id["mismatch"].error.startswith("inputs: ValueError") and "placeholders" in by_id["mismatch"].error
    assert by_id["missing"].error.startswith("inputs: ")
    assert "max_videos_per_prompt" in by_id["seven"].error
    # One batch of the 4 prepared prompts, rejected; then each alone.
    assert llm.calls == [4, 1, 1, 1, 1]
    assert all(g.wall_s > 0 for g in generations)


def test_engine_reports_a_dead_engine_instead_of_answering(processors):
    from videossr.eval.backends.vllm_engine import EngineDead

    engine = stub_engine(processors["qwen2_5_vl"], StubLLM(die=True))
    with pytest.raises(EngineDead, match="engine core died"):
        engine.generate([Request("a", "hi", ()), Request("b", "hi", ())])


# --------------------------------------------------------------------------------------------
# GPU: the real engine
# --------------------------------------------------------------------------------------------


def _gpu_ready() -> bool:
    if not VLLM_INSTALLED:
        return False
    import torch

    return torch.cuda.is_available()


GPU_MODEL = os.environ.get("VIDEOSSR_TEST_VLLM_MODEL")


@pytest.fixture(scope="module")
def gpu_backend():
    backend = VLLMBackend(GPU_MODEL, max_model_len=8192, gpu_memory_utilization=0.8, batch_size=8)
    yield backend
    backend.close()


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_ready(), reason="needs a CUDA GPU and vllm")
@pytest.mark.skipif(not GPU_MODEL, reason="set VIDEOSSR_TEST_VLLM_MODEL to a Qwen2.5-VL or Qwen3-VL model")
def test_gpu_end_to_end_generation(gpu_backend, clips):
    too_long = Request("long", "<video> " + "tell me more " * 6000, (video(clips[0]),), max_new_tokens=4)
    requests = [one_video_request(clips), six_video_request(clips), too_long, Request("text", "Say OK.", ())]
    generations = gpu_backend.generate(requests)
    assert [g.id for g in generations] == [r.id for r in requests]
    for generation in generations[:2] + generations[3:]:
        assert generation.error is None, generation.error
        assert isinstance(generation.response, str) and generation.meta["completion_tokens"] >= 1
        assert generation.meta["prompt_tokens"] > 0
    assert generations[2].error is not None  # longer than max_model_len: fails alone, the rest answer


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_ready(), reason="needs a CUDA GPU and vllm")
@pytest.mark.skipif(not GPU_MODEL, reason="set VIDEOSSR_TEST_VLLM_MODEL to a Qwen2.5-VL or Qwen3-VL model")
def test_gpu_generation_is_deterministic_and_batch_independent(gpu_backend, clips):
    requests = [one_video_request(clips), six_video_request(clips)]
    together = gpu_backend.generate(requests)
    alone = [gpu_backend.generate([r])[0] for r in requests]
    assert [g.response for g in together] == [g.response for g in alone]
