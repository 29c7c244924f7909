"""``bash train/train.sh --dry-run``: compose the exact training configuration and validate it.

Runs on a machine without GPUs and checks, in order:

1. verl's own config system: Hydra composes ``verl/trainer/config/ppo_trainer.yaml`` with the
   launcher's overrides (an unknown key or a bad value fails exactly as it would on the cluster);
2. verl's own validation, as ``verl.trainer.main_ppo`` runs it (``validate_config``), and the typed
   rollout and algorithm configs built from the composed config;
3. the reward: loaded by verl's ``get_custom_reward_fn`` from ``reward.custom_reward_function.*``
   with its ``reward_kwargs``, and every task's ground truth, given as the response, scores 1;
4. the data: every ``data.train_files`` / ``data.val_files`` file exists, has verl's columns, its
   ``data_source`` values all have a reward, and its first row's frames exist on this machine;
5. the model, when ``actor_rollout_ref.model.path`` is a local folder: its model type is a
   Qwen-VL family whose patch size matches ``data.image_patch_size`` (16 Qwen3-VL, 14 Qwen2.5-VL);
6. the attention implementation the actor will load
   (``actor_rollout_ref.model.override_config.attn_implementation``, verl's default
   ``flash_attention_2``): a local model is instantiated on PyTorch's meta device with it, which
   runs transformers' own availability check (flash-attn installed and importable) without memory;
7. the first row of every data file, through verl's real dataset code (``data.custom_cls`` or
   ``RLHFDataset``) and the model's processor, as the agent loop builds it: its frames are decoded,
   its processor inputs built, and the prompt the actor gets (see
   :mod:`videossr.qwen_vl.video_prompt`) must fit ``data.max_prompt_length``;
8. rollout/actor parity of those first rows (:mod:`videossr.training.parity`) when vLLM is
   importable here (the training environment); otherwise it says so and how to run it.

Exit status 0 when all pass; 1 with the first problem on one line otherwise.

Usage: python -m videossr.training.dry_run [--print-config] OVERRIDE [OVERRIDE ...]
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

from videossr.errors import ConfigError, VideoError
from videossr.rewards.scoring import get_scorer
from videossr.tasks.registry import all_tasks
from videossr.training.models import PATCH_SIZE_OF_MODEL_TYPE
from videossr.training.recipe import DryRunError, compose_config

REQUIRED_COLUMNS = ("data_source", "prompt", "videos", "reward_model", "extra_info")


def validate_with_verl(config) -> None:
    """verl's own checks: ``validate_config`` and its typed rollout/algorithm configs."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Disabled critic" is expected for GRPO
            validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
        OmegaConf.resolve(config)
        omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
        omega_conf_to_dataclass(config.algorithm)
    except (AssertionError, ValueError, TypeError, KeyError) as exc:
        raise DryRunError(f"verl's validation failed: {exc}".replace("\n", " ")) from exc
    except Exception as exc:  # noqa: BLE001 - Hydra wraps dataclass errors in its own types
        raise DryRunError(f"verl's validation failed: {type(exc).__name__}: {exc}".replace("\n", " ")) from exc


def check_reward(config) -> list[str]:
    """Load the reward as verl does and score each task's ground truth as the response."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    section = config.reward.custom_reward_function
    if not section.get("path"):
        raise DryRunError("reward.custom_reward_function.path is not set: verl would use its default rewards")
    try:
        reward_fn = get_custom_reward_fn(config)
    except (FileNotFoundError, RuntimeError, AttributeError, ImportError) as exc:
        raise DryRunError(f"cannot load the reward from {section.path}: {exc}") from exc
    lines = []
    for task in all_tasks().values():
        truth = task.example_ground_truth
        try:
            result = reward_fn(data_source=task.name, solution_str=truth, ground_truth=truth, extra_info={})
        except (ValueError, TypeError) as exc:
            raise DryRunError(f"the reward rejects its settings: {exc}") from exc
        score = result["score"] if isinstance(result, dict) else result
        if score != 1.0:
            raise DryRunError(f"the reward scores the exact {task.name} answer {score}, not 1.0: check reward_kwargs")
        lines.append(f"{task.name} ok")
    kwargs = dict(section.get("reward_kwargs") or {})
    return [f"reward {section.path}:{section.name} {kwargs or ''}".rstrip() + f" ({', '.join(lines)})"]


def _as_list(value) -> list[str]:
    from omegaconf import ListConfig

    if value is None:
        return []
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v) for v in value]
    return [str(value)]


def check_online(config) -> list[str]:
    """The online dataset loads through verl and makes a sample of every task of its mix."""
    import tempfile

    from omegaconf import OmegaConf, open_dict
    from verl.utils.dataset.rl_dataset import get_dataset_class

    try:
        dataset_cls = get_dataset_class(config.data)
    except (ImportError, AttributeError, TypeError) as exc:
        raise DryRunError(f"verl cannot load data.custom_cls: {exc}") from exc
    data_config = OmegaConf.create(OmegaConf.to_container(config.data, resolve=True))
    with tempfile.TemporaryDirectory(prefix="videossr-dry-run-") as cache, open_dict(data_config):
        data_config.online.cache_dir = cache  # the dry run writes its probe samples here only
        try:
            dataset = dataset_cls(data_files=_as_list(config.data.train_files), tokenizer=None, config=data_config)
        except (ConfigError, VideoError, OSError, ValueError) as exc:
            raise DryRunError(f"the online dataset rejects its configuration: {exc}") from exc
        specs = {spec.key for spec, _ in dataset.mix}
        made: set[str] = set()
        for index in range(min(len(dataset), 64)):
            epoch, position = divmod(index, len(dataset.videos))
            key = dataset.spec_for(epoch, position).key
            if key in made:
                continue
            try:
                row = dataset.sample_row(index)
            except VideoError as exc:
                raise DryRunError(f"the online dataset cannot make item {index} ({key}): {exc}") from exc
            get_scorer(row["data_source"])
            made.add(key)
    mix = ", ".join(f"{spec.key} {weight:g}" for spec, weight in dataset.mix)
    return [
        f"online {dataset_cls.__name__}: {len(dataset.videos)} videos x {dataset.epochs} epochs = {len(dataset)} "
        f"items; mix {mix}; sampled {', '.join(sorted(made))} (of {len(specs)} parts)"
    ]


def _is_online(config) -> bool:
    """ONLINE=1: train.sh passes ``data.online.*`` (frames folders, not data files, are trained on)."""
    return "online" in config.data


def check_data(config) -> list[str]:
    """Each data file exists and every row can be scored by our reward."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    lines = []
    online = _is_online(config)
    if online:
        lines += check_online(config)
    files = [("train", f) for f in _as_list(config.data.train_files) if not online]
    files += [("val", f) for f in _as_list(config.data.val_files)]
    if not files and not online:
        raise DryRunError("data.train_files is empty")
    for split, name in files:
        path = Path(name)
        if not path.is_file():
            raise DryRunError(
                f"data file not found: {path} (set DATA_DIR, or build it with pretext_tasks/build_mix.py)"
            )
        table = pq.read_table(path, columns=[c for c in REQUIRED_COLUMNS if c in pq.read_schema(path).names])
        missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
        if missing:
            raise DryRunError(f"{path} lacks verl columns {missing}")
        if table.num_rows == 0:
            raise DryRunError(f"{path} has no rows")
        sources = pc.value_counts(table["data_source"]).to_pylist()
        for entry in sources:
            try:
                get_scorer(entry["values"])
            except ValueError as exc:
                raise DryRunError(f"{path}: {exc}") from exc
        first = table.slice(0, 1).to_pylist()[0]
        absent = [f for video in first["videos"] for f in video["video"] if not Path(f).is_file()]
        if absent:
            raise DryRunError(f"{path}: frames of its first row are missing on this machine, e.g. {absent[0]}")
        counts = ", ".join(f"{e['values']} {e['counts']}" for e in sources)
        lines.append(f"{split} {_shown(path)}: {table.num_rows} rows ({counts})")
    return lines


def check_model(config) -> list[str]:
    """Patch size of a local model vs ``data.image_patch_size`` (hub ids are not fetched)."""
    model_path = Path(str(config.actor_rollout_ref.model.path))
    config_file = model_path / "config.json"
    if not config_file.is_file():
        return [f"model {model_path}: not a local folder, not checked (it must exist on every node)"]
    model_type = json.loads(config_file.read_text()).get("model_type", "")
    expected = PATCH_SIZE_OF_MODEL_TYPE.get(model_type)
    if expected is None:
        raise DryRunError(
            f"model {model_path} has model_type {model_type!r}; VideoSSR trains Qwen-VL models "
            f"({', '.join(PATCH_SIZE_OF_MODEL_TYPE)})"
        )
    if int(config.data.image_patch_size) != expected:
        raise DryRunError(
            f"data.image_patch_size is {config.data.image_patch_size} but {model_type} uses {expected}: "
            "set MODEL_FAMILY, or pass data.image_patch_size=" + str(expected)
        )
    return [f"model {model_path.name}: {model_type}, patch size {expected}"]


def _local_model(config) -> Path | None:
    path = Path(str(config.actor_rollout_ref.model.path))
    return path if (path / "config.json").is_file() else None


def check_attention(config) -> list[str]:
    """The actor's attention implementation loads (transformers' own check, on the meta device)."""
    override = config.actor_rollout_ref.model.get("override_config", {}) or {}
    implementation = str(override.get("attn_implementation", "flash_attention_2"))
    model_path = _local_model(config)
    if model_path is None:
        import importlib.util

        if implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
            raise DryRunError(
                "attn_implementation=flash_attention_2 but flash-attn is not installed: "
                "unset ATTN_IMPLEMENTATION (train.sh then uses sdpa) or pip install flash-attn"
            )
        return [f"attention {implementation}: model not local, only the package was checked"]
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    try:
        hf_config = AutoConfig.from_pretrained(model_path, attn_implementation=implementation)
        with torch.device("meta"):
            AutoModelForImageTextToText.from_config(hf_config, attn_implementation=implementation)
    except (ImportError, ValueError) as exc:
        raise DryRunError(
            f"the actor cannot load attn_implementation={implementation}: {exc}".replace("\n", " ")[:600]
            + " (unset ATTN_IMPLEMENTATION: train.sh picks sdpa when flash-attn does not import)"
        ) from exc
    return [f"attention {implementation}: loads for {model_path.name} (meta device)"]


def _shown(path: Path) -> str:
    """A data file as the lines name it: with its folder (``grounding/mirror.parquet``, ``mix/val.parquet``)."""
    return f"{path.parent.name}/{path.name}"


def _data_files(config) -> list[tuple[str, Path]]:
    online = _is_online(config)
    files = [("train", Path(f)) for f in _as_list(config.data.train_files) if not online]
    return files + [("val", Path(f)) for f in _as_list(config.data.val_files)]


def check_first_rows(config) -> list[str]:
    """The first row of every file through verl's dataset and the processor; its length vs the budget."""
    import tempfile

    import pyarrow.parquet as pq
    from omegaconf import OmegaConf, open_dict
    from verl.utils.dataset.rl_dataset import get_dataset_class
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    from videossr.qwen_vl.video_prompt import expand_video_placeholders, rollout_prompt_ids, video_layouts

    model_path = _local_model(config)
    if model_path is None:
        return ["first rows: model not local, prompts not built (the processor is the model's)"]
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_path)
    budget = int(config.data.max_prompt_length)
    data_config = OmegaConf.create(OmegaConf.to_container(config.data, resolve=True))
    lines = []
    with tempfile.TemporaryDirectory(prefix="videossr-dry-run-rows-") as scratch, open_dict(data_config):
        data_config.filter_overlong_prompts = False  # the length is checked below, for this row only
        data_config.cache_dir = str(Path(scratch) / "verl_cache")
        dataset_cls = get_dataset_class(data_config)
        patch = int(data_config.get("image_patch_size") or processor.image_processor.patch_size)
        for split, path in _data_files(config):
            first = Path(scratch) / f"{split}_{path.parent.name}_{path.stem}.parquet"
            pq.write_table(pq.ParquetFile(path).read_row_group(0).slice(0, 1), first)
            try:
                dataset = dataset_cls(
                    data_files=[str(first)], tokenizer=processor.tokenizer, config=data_config, processor=processor
                )
                messages = list(dataset[0]["raw_prompt"])
                _, videos, _ = dataset._process_multi_modal_info(messages, patch, data_config)
                text = processor.apply_chat_template(
                    messages,
                    add_generation_prompt=True,
                    tokenize=False,
                    **dict(data_config.get("apply_chat_template_kwargs") or {}),
                )
                inputs = build_multimodal_processor_inputs(
                    processor, text=[text], videos=videos, mm_processor_kwargs=data_config.get("mm_processor_kwargs")
                )
                ids = rollout_prompt_ids(processor.tokenizer, text, len(videos or []))
                if videos:
                    layouts = video_layouts(processor, inputs["video_grid_thw"], videos)
                    ids = expand_video_placeholders(processor.tokenizer, processor, ids, layouts)
            except (OSError, ValueError, KeyError, AssertionError) as exc:
                raise DryRunError(
                    f"{path}: verl cannot build its first row with the model's processor: "
                    f"{type(exc).__name__}: {exc}".replace("\n", " ")[:600]
                ) from exc
            if len(ids) > budget:
                raise DryRunError(
                    f"{path}: its first row's prompt is {len(ids)} tokens, over data.max_prompt_length={budget} "
                    "(raise MAX_PROMPT_LENGTH, or lower the frames' max_pixels)"
                )
            lines.append(
                f"first row of {_shown(path)}: {len(ids)} prompt tokens of {budget}, "
                f"{len(videos or [])} video(s), built by {dataset_cls.__name__}"
            )
    return lines


def check_rollout_parity(config) -> list[str]:
    """Rollout/actor parity of each train file's first row, when vLLM is importable here."""
    import importlib.util

    from videossr.training.parity import check_parity

    if _local_model(config) is None:
        return ["rollout parity: model not local, not checked"]
    if importlib.util.find_spec("vllm") is None:
        return [
            "rollout parity: not checked here (vLLM is not installed in this environment); in the training "
            "environment run: python -m videossr.training.parity --model MODEL --data-dir DATA_DIR"
        ]
    from videossr.training.parity import build_vllm_preprocessor

    preprocessor = build_vllm_preprocessor(config)
    lines = []
    for split, path in _data_files(config):
        if split != "train":
            continue
        result = check_parity(config, path, f"{path.parent.name}/{path.stem}", preprocessor)
        if not result.ok:
            raise DryRunError(result.line())
        lines.append(result.line())
    return lines


def dry_run(overrides: list[str]) -> tuple[Any, list[str]]:
    """Compose and check; returns the resolved config and a report, or raises DryRunError."""
    config = compose_config(overrides)
    validate_with_verl(config)
    report = ["verl config composed and validated (validate_config, RolloutConfig, AlgoConfig)"]
    report += check_reward(config)
    report += check_data(config)
    report += check_model(config)
    report += check_attention(config)
    report += check_first_rows(config)
    report += check_rollout_parity(config)
    return config, report


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    print_config = "--print-config" in args
    overrides = [a for a in args if a != "--print-config"]
    try:
        config, report = dry_run(overrides)
    except DryRunError as exc:
        print(f"train.sh --dry-run: error: {exc}", file=sys.stderr)
        return 1
    if print_config:
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(config))
    for line in report:
        print(f"  {line}")
    print("dry run OK: the same overrides start training with `bash train/train.sh` on GPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
