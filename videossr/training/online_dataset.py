"""Pretext tasks generated online, in verl's dataloader: a fresh sample each time an item is drawn.

verl loads it through ``data.custom_cls``::

    data.custom_cls.path=pkg://videossr.training.online_dataset
    data.custom_cls.name=OnlinePretextDataset
    data.train_files=[/scratch/frames48]          # frames folders made by sample_frames.py
    +data.online.seed=0 +data.online.epochs=2 +data.online.cache_dir=/shared/videossr_cache
    +data.online.mix='{"grounding/ChannelSwap": 1, "grounding/Mirror": 1, "jigsaw/6": 4, "counting/easy": 2}'

Items: one per video and epoch. Item ``i`` is, in epoch ``e = i // V`` (V videos), the video at
place ``i % V`` of that epoch's own seeded permutation of the videos; verl walks the items of all
``epochs`` in one pass, in index order (train.sh sets ``trainer.total_epochs=1`` and
``data.shuffle=False``), so every (video, epoch) pair is drawn exactly once, an epoch's samples
differ from the last one's, and the order is a pure function of the seed. Why the dataset shuffles
and not verl's sampler: with ``dataloader_num_workers > 0`` torchdata 0.11's ``StatefulDataLoader``
creates the sampler's iterator twice and so draws its second permutation, not its first, and a run
with 2 workers saw other rows at every step than one with none (checked on verl 0.9.1). The
task of an item is drawn from ``mix`` and its sample made by the same generator functions as the
offline files (same prompts, ground truth and ``extra_info``), from seeds derived from (seed,
epoch, video index): a run is reproducible, and ``extra_info.seed`` regenerates any sample.

Frames a sample changes are written as JPEG to ``cache_dir`` (one sub-folder per worker process,
the oldest samples deleted beyond ``cache_samples_per_worker``, folders of processes that have
ended removed when a new one starts; on several nodes, put it on a shared file system); rows carry
frame paths, so no pixels travel through Ray. Files that are not
frames folders (``.parquet``, e.g. the validation set) are read as verl's own ``RLHFDataset`` does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections import deque
from pathlib import Path
from typing import Any

from verl.utils.dataset.rl_dataset import RLHFDataset

from videossr.data.generation import GenerationSettings, build_sample_row, partner_for
from videossr.data.mix import get_recipe
from videossr.errors import ConfigError, VideoError
from videossr.frames.folder import INDEX_NAME, load_index
from videossr.tasks.registry import OutputSpec, get_task, spec_of
from videossr.tasks.rows import TRAIN_MAX_PIXELS, TRAIN_MIN_PIXELS
from videossr.tasks.seeds import derive_seed, rng_for

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SAMPLES_PER_WORKER = 2048
#: Draws an item may take before giving up on videos that cannot carry its task.
MAX_DRAWS = 8


def parse_mix(mix: Any) -> list[tuple[OutputSpec, float]]:
    """``(spec, weight)`` pairs of a mix, ``"task/variant" -> weight`` given as a mapping, as JSON,
    or as ``"task/variant=weight;..."`` text (``,`` also separates); None is VideoSSR-30K.

    Variants: a perturbation (grounding), ``easy``/``hard`` (counting), the number of clips (jigsaw).

    >>> [(s.key, w) for s, w in parse_mix({"grounding/mirror": 1, "jigsaw/8": 3})]
    [('grounding/mirror', 1.0), ('jigsaw/8', 3.0)]
    >>> [(s.key, w) for s, w in parse_mix("counting/hard=2; grounding/Shuffle=1")]
    [('counting/hard', 2.0), ('grounding/shuffle', 1.0)]
    """
    if mix is None or mix == "" or mix == {}:
        return [(part.spec, float(part.weight)) for part in get_recipe("videossr-30k").parts]
    if isinstance(mix, str):
        text = mix.strip()
        if text.startswith("{"):
            try:
                mix = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"data.online.mix is not valid JSON: {exc}") from exc
        else:
            mix = {}
            for item in text.replace(",", ";").split(";"):
                if not item.strip():
                    continue
                key, sep, weight = item.partition("=")
                try:
                    mix[key.strip()] = float(weight) if sep else 1.0
                except ValueError as exc:
                    raise ConfigError(f"data.online.mix entry {item!r}: expected task/variant=weight") from exc
    pairs = []
    for key, weight in dict(mix).items():
        try:
            spec = spec_of(key)
        except ConfigError as exc:
            raise ConfigError(f"data.online.mix key {key!r}: {exc} (keys are task/variant)") from None
        if float(weight) < 0:
            raise ConfigError(f"data.online.mix weight of {key!r} must be >= 0")
        pairs.append((spec, float(weight)))
    if not pairs or sum(w for _, w in pairs) <= 0:
        raise ConfigError("data.online.mix needs at least one positive weight")
    return pairs


def frames_folder_of(path: str | Path) -> Path | None:
    """The frames folder a data file names (the folder or its ``index.jsonl``), else None."""
    path = Path(path)
    if path.is_dir() and (path / INDEX_NAME).is_file():
        return path.resolve()
    if path.name == INDEX_NAME and path.is_file():
        return path.parent.resolve()
    return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _SampleCache:
    """Per-process folder of changed frames, keeping the newest ``capacity`` samples."""

    def __init__(self, root: Path, capacity: int):
        self.root = root
        self.capacity = capacity
        self._folder: Path | None = None
        self._samples: deque[Path] = deque()

    def folder(self) -> Path:
        # Created lazily, in the process that draws items (each dataloader worker has its own).
        pid_folder = self.root / f"{socket.gethostname()}-{os.getpid()}"
        if self._folder != pid_folder:
            self._folder = pid_folder
            self._samples.clear()
            shutil.rmtree(pid_folder, ignore_errors=True)
            pid_folder.mkdir(parents=True, exist_ok=True)
            self._remove_stale_folders()
        return pid_folder

    def _remove_stale_folders(self) -> None:
        """Delete the folders of this host's processes that no longer exist (earlier runs, dead workers)."""
        prefix = f"{socket.gethostname()}-"
        for folder in self.root.iterdir():
            pid = folder.name[len(prefix) :] if folder.name.startswith(prefix) else ""
            if pid.isdigit() and not _process_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)

    def new_sample_dir(self, name: str) -> Path:
        """An empty folder path for a sample; asking again for the newest one (a retried draw) reuses it."""
        sample_dir = self.folder() / name
        shutil.rmtree(sample_dir, ignore_errors=True)
        if self._samples and self._samples[-1] == sample_dir:
            return sample_dir
        self._samples.append(sample_dir)
        while len(self._samples) > self.capacity:
            shutil.rmtree(self._samples.popleft(), ignore_errors=True)
        return sample_dir


class _OnlineRows:
    """What ``RLHFDataset.__getitem__`` reads as ``self.dataframe``: a generated row per index."""

    def __init__(self, dataset: OnlinePretextDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.dataset.sample_row(index)


class OnlinePretextDataset(RLHFDataset):
    """verl dataset whose items are pretext-task samples made when drawn (see the module docstring)."""

    def __init__(self, data_files, tokenizer, config, processor=None, max_samples: int = -1):
        files = list(data_files) if not isinstance(data_files, (str, os.PathLike)) else [data_files]
        folders = [frames_folder_of(f) for f in files]
        if not any(folders):
            # Offline rows (e.g. the validation parquet): exactly verl's RLHFDataset.
            super().__init__(files, tokenizer, config, processor, max_samples)
            self.online = False
            return
        if not all(folders):
            bad = [str(f) for f, folder in zip(files, folders) if folder is None]
            raise ConfigError(f"online training reads frames folders (with index.jsonl); not frames folders: {bad}")
        self.online = True
        self.tokenizer = tokenizer
        self.processor = processor
        self.config = config
        # What RLHFDataset.__getitem__ and _build_messages read.
        self.prompt_key = config.get("prompt_key", "prompt")
        self.image_key = config.get("image_key", "images")
        self.video_key = config.get("video_key", "videos")
        self.audio_key = config.get("audio_key", "audios")
        self.need_tools_kwargs = config.get("need_tools_kwargs", False)
        self.serialize_dataset = False
        self.data_files = files
        self.original_data_files = list(files)

        online = dict(config.get("online", None) or {})
        self.seed = int(online.get("seed", config.get("seed", None) or 0))
        self.epochs = int(online.get("epochs", 1))
        if self.epochs < 1:
            raise ConfigError(f"data.online.epochs must be >= 1, got {self.epochs}")
        self.mix = parse_mix(online.get("mix"))
        self.max_pixels = int(online.get("max_pixels", TRAIN_MAX_PIXELS))
        self.min_pixels = int(online.get("min_pixels", TRAIN_MIN_PIXELS))
        cache_dir = Path(online.get("cache_dir") or Path(os.environ.get("TMPDIR", "/tmp")) / "videossr_online")
        self.cache = _SampleCache(
            cache_dir.expanduser().resolve(),
            int(online.get("cache_samples_per_worker", DEFAULT_CACHE_SAMPLES_PER_WORKER)),
        )

        self.videos: list[tuple[Path, dict[str, Any]]] = []
        self.records_by_folder: dict[Path, dict[str, dict[str, Any]]] = {}
        for folder in dict.fromkeys(folders):
            records = load_index(folder)
            self.records_by_folder[folder] = {r["video_id"]: r for r in records}
            self.videos.extend((folder, r) for r in records)
        if not self.videos:
            raise ConfigError(f"the frames folders {folders} hold no sampled video")
        self.length = len(self.videos) * self.epochs
        self._orders: dict[int, list[int]] = {}
        if max_samples and 0 < max_samples < self.length:
            self.length = max_samples
        self.dataframe = _OnlineRows(self)

    def __len__(self) -> int:
        return self.length if self.online else super().__len__()

    def order_of(self, epoch: int) -> list[int]:
        """Video positions in the order epoch ``epoch`` draws them: a permutation seeded by (seed, epoch)."""
        if epoch not in self._orders:
            rng = rng_for(derive_seed(self.seed, "online-order", epoch))
            self._orders[epoch] = [int(k) for k in rng.permutation(len(self.videos))]
        return self._orders[epoch]

    def spec_for(self, epoch: int, position: int) -> OutputSpec:
        """The task drawn for item (epoch, video position), from the mix weights."""
        weights = [w for _, w in self.mix]
        rng = rng_for(derive_seed(self.seed, "online-task", epoch, position))
        choice = rng.choice(len(self.mix), p=[w / sum(weights) for w in weights])
        return self.mix[int(choice)][0]

    def sample_row(self, index: int) -> dict[str, Any]:
        """The verl row of item ``index``, its changed frames written to the cache.

        A video that cannot carry the drawn task (too small to draw shapes on, no room for Fast,
        ...) passes the item to the next video, deterministically; MAX_DRAWS tries in all.
        """
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} outside 0..{len(self) - 1}")
        epoch, place = divmod(index, len(self.videos))
        position = self.order_of(epoch)[place]
        reasons = []
        for attempt in range(MAX_DRAWS):
            folder, record = self.videos[(position + attempt) % len(self.videos)]
            spec = self.spec_for(epoch, position)
            seed = derive_seed(self.seed, "online", epoch, position, attempt)
            try:
                return self._row(folder, record, spec, seed, index)
            except VideoError as exc:
                reasons.append(f"{record['video_id']}: {exc.reason}")
        raise VideoError(f"item {index}: no video could carry its task ({'; '.join(reasons[:3])})")

    def _row(self, folder: Path, record: dict[str, Any], spec: OutputSpec, seed: int, index: int) -> dict[str, Any]:
        task = get_task(spec.task)
        partner = None
        if task.needs_partner(spec.variant):
            partner_id = partner_for(seed, record["video_id"], list(self.records_by_folder[folder]))
            partner = self.records_by_folder[folder][partner_id] if partner_id else None
        settings = GenerationSettings(split="train", max_pixels=self.max_pixels, min_pixels=self.min_pixels)
        sample_dir = self.cache.new_sample_dir(f"item{index}")
        row = build_sample_row(task, spec, folder, record, partner, seed, sample_dir, settings)
        row["extra_info"]["index"] = index
        return row

    def resume_dataset_state(self):
        """Nothing to restore online: items are a pure function of (seed, index)."""
        if not self.online:
            super().resume_dataset_state()

    def maybe_filter_out_long_prompts(self, dataframe=None):
        # Online prompts are bounded by construction (48 frames within the pixel budget).
        return dataframe
