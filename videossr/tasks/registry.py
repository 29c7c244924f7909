"""The pretext-task registry: each task is one :class:`PretextTask` object, in its own module.

``videossr/tasks/counting.py``, ``grounding.py`` and ``jigsaw.py`` each define their task and
register it. Everything that differs between tasks is an attribute or method of that object: its
variants and their file stems, how a sample is made, how the training reward and VIUBench score an
answer, what the random baseline guesses, the ground truth the dry run checks, what the preview and
the data report show. Generation, the mix, the online dataset, the rewards, VIUBench, the random
backend, preview, the reports and the dry run only look tasks up here (:func:`get_task`,
:func:`all_tasks`, :func:`spec_of`).

A new task: subclass :class:`PretextTask` in a module that calls ``register_task(MyTask())`` when
imported, and make sure that module is imported wherever the task runs. Either import it before
use, or list it in the ``VIDEOSSR_TASK_MODULES`` environment variable (comma-separated module
names): the registry imports those on first use in every process, so worker processes, Ray tasks
and verl's reward workers find the task too. docs/extending.md.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videossr.errors import ConfigError

if TYPE_CHECKING:  # only for annotations: these modules import this one
    import numpy as np

    from videossr.frames.folder import VideoFrames
    from videossr.tasks.sample import Sample

#: The built-in tasks, imported in this order: the paper's Table 1 order (counting, grounding,
#: jigsaw), which is also the order of VIUBench's subtypes and task averages.
BUILTIN_TASK_MODULES = ("videossr.tasks.counting", "videossr.tasks.grounding", "videossr.tasks.jigsaw")
#: Environment variable naming more task modules (comma-separated) to import on first use.
TASK_MODULES_ENV = "VIDEOSSR_TASK_MODULES"


@dataclass(frozen=True)
class OutputSpec:
    """One kind of sample: a task and one of its variants.

    ``variant`` is the task's canonical variant name (``ChannelSwap``, ``easy``, ``6``): part of
    every sample's seed, so it never changes for an existing variant.

    ``key`` is the variant key, ``"<task>/<variant in lower case>"`` (``grounding/channelswap``,
    ``counting/easy``, ``jigsaw/6``): the one name of a variant everywhere. It is the data file's
    path under an output folder (``OUT/grounding/channelswap.parquet``), the mix key, the VIUBench
    subtype and record-id prefix, the summary's metric name and the report's column.
    """

    task: str
    variant: str

    @property
    def key(self) -> str:
        return f"{self.task}/{self.variant.lower()}"

    def data_file(self, output_dir: str | os.PathLike, suffix: str = ".parquet") -> Path:
        """This variant's file under ``output_dir``: ``output_dir/<key><suffix>``."""
        return Path(output_dir) / f"{self.key}{suffix}"


@dataclass(frozen=True)
class TaskScorer:
    """How the training reward parses and scores a response of one task.

    Attributes:
        parse_truth: ground truth text -> value; raises ``ValueError`` when malformed.
        parse: (response, parsed truth) -> answer, or None when none is found.
        smooth: (answer, truth) -> float in [0, 1] (the paper's reward).
        strict: (answer, truth) -> bool, True only for the exact answer (the ablation's reward).
    """

    parse_truth: Callable[[str], Any]
    parse: Callable[[str, Any], Any]
    smooth: Callable[[Any, Any], float]
    strict: Callable[[Any, Any], bool]


@dataclass(frozen=True)
class BenchmarkSubtype:
    """A VIUBench subtype: a variant of the task (its key names the subtype) and the paper's title of it."""

    variant: str
    title: str  # the paper's name (``Counting Easy``), shown under the key in reports


class PretextTask:
    """Base class of a pretext task; a subclass sets the class attributes and the abstract methods.

    Attributes:
        name: registry key, CLI value, parquet ``data_source``, reward key, the first part of its
            variant keys, and the group of verl's training metrics (verl groups by ``data_source``).
        aliases: other ``data_source`` names the reward accepts for this task.
        default_variant: the variant a bare task name means in a mix key (None: a variant is required).
        example_ground_truth: a valid ground truth; the dry run checks that the reward scores it 1.0.
        reward: the training reward's parsing and scoring.
        benchmark_subtypes: the task's VIUBench subtypes (none: not in VIUBench).
    """

    name: str = ""
    aliases: tuple[str, ...] = ()
    default_variant: str | None = None
    example_ground_truth: str = ""
    reward: TaskScorer
    benchmark_subtypes: tuple[BenchmarkSubtype, ...] = ()

    # -- variants

    def variants(self) -> tuple[str, ...]:
        """The canonical variant names."""
        raise NotImplementedError

    def canonical_variant(self, text: str) -> str:
        """The canonical name of a variant as a user may write it; ConfigError lists the valid ones."""
        for variant in self.variants():
            if variant.lower() == str(text).strip().lower():
                return variant
        raise ConfigError(f"unknown {self.name} variant {text!r}; choose from {', '.join(self.variants())}")

    def spec(self, variant: str | None = None) -> OutputSpec:
        """The :class:`OutputSpec` of a variant (the default variant if None)."""
        if variant is None or variant == "":
            if self.default_variant is None:
                raise ConfigError(f"{self.name} needs a variant: {self.name}/<{'|'.join(self.variants())}>")
            variant = self.default_variant
        canonical = self.canonical_variant(variant)
        return OutputSpec(self.name, canonical)

    def variant_of_row(self, extra: Mapping[str, Any]) -> str:
        """The canonical variant a row was made with, from its ``extra_info``."""
        raise NotImplementedError

    def variant_label(self, extra: Mapping[str, Any]) -> str:
        """How a row's variant is shown (contact sheet header, data report)."""
        return self.variant_of_row(extra)

    # -- making samples

    def needs_partner(self, variant: str) -> bool:
        """Whether a sample also takes frames of a second video of the frames folder."""
        return False

    def fingerprint(self, settings: Any) -> dict[str, Any]:
        """Generation settings beyond the common ones that change this task's bytes (manifest, journal)."""
        return {}

    def sample_options(self, settings: Any) -> dict[str, Any]:
        """The keyword options :meth:`make_sample` takes from the generation settings."""
        return {}

    def row_sample_options(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The options a row was made with, from its ``params`` (to regenerate it exactly)."""
        return {}

    def make_sample(
        self,
        video: VideoFrames,
        variant: str,
        rng: np.random.Generator,
        *,
        partner: VideoFrames | None = None,
        **options: Any,
    ) -> Sample:
        """One sample of ``video``; pure given the frames and ``rng``.

        Raises:
            VideoError: this video cannot carry the sample (it is listed as failed, with the reason).
        """
        raise NotImplementedError

    # -- evaluation

    def benchmark_hints(self, variant: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """What a VIUBench record tells a model-free baseline (the ``hints`` of the record)."""
        return {"task": self.name}

    def benchmark_score(self, response: str, ground_truth: str) -> tuple[float, str | None]:
        """VIUBench's score of a response in [0, 1] and the answer read from it (None: unparsed)."""
        raise NotImplementedError

    def random_answer(self, hints: Mapping[str, Any], rng: np.random.Generator) -> str:
        """The random baseline's answer, from a record's ``hints`` only."""
        raise NotImplementedError

    # -- looking at samples

    def preview_caption(self, row: Mapping[str, Any], video_pos: int) -> str | None:
        """A title line above video ``video_pos`` of a contact sheet (None: no title)."""
        return None

    def preview_mark(self, row: Mapping[str, Any], video_pos: int, position: int, thumb: Any, scale: float):
        """Mark what the task changed on one thumbnail (BGR, drawn in place; ``scale`` = thumb / frame).

        Returns the label colour of a marked frame, or None when the frame is unchanged.
        """
        return None

    def report_plots(self, rows: list[Mapping[str, Any]]) -> list[str]:
        """HTML plots (inline SVG) of this task's rows for the data report; [] for none."""
        return []


TASKS: dict[str, PretextTask] = {}
_ALIASES: dict[str, str] = {}
_loaded = False
_load_lock = threading.RLock()


def register_task(task: PretextTask) -> PretextTask:
    """Add ``task`` to the registry and return it; a name (or alias) may be registered once."""
    if not task.name:
        raise ValueError(f"{type(task).__name__} has no name")
    for name in (task.name, *task.aliases):
        if name in TASKS or name in _ALIASES:
            raise ValueError(f"pretext task {name!r} is already registered")
    TASKS[task.name] = task
    _ALIASES.update(dict.fromkeys(task.aliases, task.name))
    return task


def unregister_task(name: str) -> None:
    """Remove a task (tests register toy tasks and remove them again)."""
    task = TASKS.pop(name)
    for alias in task.aliases:
        _ALIASES.pop(alias, None)


def _load() -> None:
    """Import the built-in task modules and those of VIDEOSSR_TASK_MODULES, once per process.

    Thread-safe: verl's reward workers score in several threads at once, and a thread must never
    see the registry half filled. (Re-entrant, for a task module that looks tasks up on import.)
    """
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        extra = [m.strip() for m in os.environ.get(TASK_MODULES_ENV, "").split(",") if m.strip()]
        for module in (*BUILTIN_TASK_MODULES, *extra):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                if module in BUILTIN_TASK_MODULES:
                    raise
                raise ConfigError(f"{TASK_MODULES_ENV}: cannot import task module {module!r}: {exc}") from exc
        _loaded = True  # only now: a failed import is retried (and raises again) on the next lookup


def all_tasks() -> dict[str, PretextTask]:
    """Every registered task by name: the built-ins in the paper's order, then the others as registered.

    The order does not depend on which module happened to be imported first.
    """
    _load()

    def rank(item: tuple[int, PretextTask]) -> tuple[int, int]:
        position, task = item
        module = type(task).__module__
        return (
            (BUILTIN_TASK_MODULES.index(module), 0)
            if module in BUILTIN_TASK_MODULES
            else (len(BUILTIN_TASK_MODULES), position)
        )

    ordered = sorted(enumerate(TASKS.values()), key=rank)
    return {task.name: task for _, task in ordered}


def get_task(name: str) -> PretextTask:
    """The task of a name or alias; ConfigError lists the registered ones otherwise."""
    _load()
    task = TASKS.get(_ALIASES.get(name, name))
    if task is None:
        known = sorted(TASKS) + sorted(_ALIASES)
        raise ConfigError(f"unknown pretext task {name!r}; known: {', '.join(known)}")
    return task


def spec_of(key: str) -> OutputSpec:
    """The :class:`OutputSpec` of a ``"task/variant"`` key (``grounding/channelswap``, ``jigsaw/8``).

    A bare task name means its default variant (``counting`` = ``counting/easy``); names are
    case-insensitive. ConfigError names what is wrong and lists the choices.
    """
    task_name, _, variant = str(key).strip().partition("/")
    return get_task(task_name.strip()).spec(variant.strip() or None)
