"""Tiny, randomly initialised, fully offline Qwen2.5-VL and Qwen3-VL checkpoints for tests.

A checkpoint made here is a real Hugging Face model folder (safetensors weights, config, tokenizer,
processor with image and video processor configs, chat template, generation config) that loads
with the standard ``Auto*.from_pretrained(folder)`` calls and runs the same video path as training
and evaluation (``qwen_vl_utils.process_vision_info`` then the processor then the model), in well
under a second per step on a CPU. Its weights are random, so its outputs are meaningless: it exists
to exercise code paths (data loading, verl rollouts, reward plumbing), never to measure quality.

Nothing is downloaded: the byte-level BPE tokenizer is trained on the fly on the small built-in
:data:`CORPUS`, and the model classes, configs and processors are the installed transformers'
own. Everything is deterministic for a seed, and a finished folder carries a marker file
(:data:`MARKER_NAME`, written last) so that building again is a no-op.

Usage from Python: ``build_tiny_model("qwen3_vl", "outputs/tiny_qwen3_vl")`` or
``tiny_model_dir("qwen2_5_vl")`` (built once under ``~/.cache/videossr/tiny_models/``); from the shell:
``python scripts/make_tiny_models.py --output-dir outputs/tiny_models``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FAMILIES = ("qwen2_5_vl", "qwen3_vl")

#: Written last into a finished checkpoint folder; its content identifies how it was built.
MARKER_NAME = "tiny_model.json"
#: Bumped whenever the layout or content of a checkpoint changes, so old folders get rebuilt.
FORMAT_VERSION = 2

#: Qwen's special tokens, appended in this order after the learned vocabulary (as in Qwen, where
#: they sit above the byte-level BPE tokens). The ids are ``len(bpe_vocab) + index``.
SPECIAL_TOKENS = (
    "<|endoftext|>",  # pad (and Qwen's document separator)
    "<|im_start|>",
    "<|im_end|>",  # eos of chat turns
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"

#: Target size of the learned byte-level BPE vocabulary (256 byte symbols + merges), before the
#: special tokens. The corpus is small, so training may stop earlier when no pair repeats.
BPE_VOCAB_SIZE = 1024

#: Training text of the tokenizer: the pretext tasks' wording (grounding, counting, jigsaw),
#: answer formats and common chat words, so that prompts encode into a realistic number of tokens
#: rather than mostly single bytes. Digits never merge (the Qwen pre-tokenizer isolates each one),
#: so any number round-trips exactly whatever this text holds.
CORPUS = """\
Based on this video, provide the answer directly.
In a segment of this video, the colours of the frames were changed. Your task is to identify the
precise time interval of this change. Please only provide the start and end times in seconds,
formatted as <start_time>-<end_time> (e.g., '14.5-26.2'). The answer is 2.1-3.8 seconds.
Note that the timestamps of the frames were deliberately kept evenly spaced, so the change in speed
must be judged from the motion, not from the timestamps. The video plays slow, then fast, then
normal again. A part of the video was reversed, rotated, flipped, blurred, shifted or zoomed.
Count the number of circles, squares, and triangles that appear in this video. Be aware that the
shapes can appear in any color and at any angle of rotation. They may be present on one or multiple
frames, and any given frame can contain more than one shape. Provide the answer as three
comma-separated numbers in the format: circles,squares,triangles. For example, if you see 3 circles,
1 square, and 4 triangles, your answer should be '3,1,4'. One circle, two squares, no triangle.
This video is presented as 6 separate clips, which are in a shuffled order. Your task is to
determine the correct chronological sequence. Please output a six-digit number that specifies the
order in which to play the clips you are seeing (labeled 1 through 6 by their position). For example,
if you decide that the clip at position 3 of this video is the true beginning (the 1st clip of the
original video), the clip at position 4 is the 2nd part, the clip at position 1 is the 3rd part, the
clip at position 5 is the 4th part, the clip at position 6 is the 5th part, and finally the clip at
position 2 is the 6th part, then your answer should be '341562'. Clip 1: Clip 2: Clip 3: Clip 8:
This video is presented as 8 separate clips. Please output an eight-digit number, such as '51827463'.
Think step by step, then put the final answer between tags: <think>reasoning</think>
<answer>3,1,4</answer> <answer>341562</answer> <answer>14.5-26.2</answer> <answer>0</answer>
The system, the user and the assistant take turns. The user asks a question about the video and the
assistant answers it. What happens in the video? A person walks across the room, picks up a cup and
sits down at the table. The camera moves to the left. There are two people, a dog and a red car.
How many seconds does the video last? What is the color of the car? Where is the ball at the start?
Describe the scene in detail. The image shows a street with trees, houses and a blue sky.
Frame 0, frame 1, frame 2, frame 3 at 0.1 seconds, 0.4 seconds, 0.7 seconds, 1.0 seconds.
Watch the whole video carefully before answering. The video shows a kitchen, a garden, a road, a
beach, a classroom, a football match and a concert. Someone is cooking, running, jumping, dancing,
reading, writing, swimming or playing music. The object moves from the bottom to the top of the
frame. Which event happens first, and which happens after it? Answer with a single word or number.
Select the best option: (A) before (B) after (C) during (D) never. The correct option is (B).
Numbers: 0 1 2 3 4 5 6 7 8 9 10 12.5 100 2024 0.5 1.5 3.14; punctuation: . , ; : ! ? ' " ( ) [ ] { }
- + * / = < > _ # @ % & | ~ ` ^ $ \\ yes no true false correct wrong right left up down first last.
"""


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def build_tiny_model(family: str, output_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of ``family`` into ``output_dir`` and return ``output_dir``.

    The folder (about 1.4 MB) holds float32 weights (``model.safetensors``), ``config.json``,
    ``generation_config.json``, the tokenizer (``tokenizer.json``, ``tokenizer_config.json``), the
    processor (``processor_config.json``: transformers 5 keeps the image and video processor
    configs inside it), ``chat_template.jinja`` and the marker :data:`MARKER_NAME`, written last.

    Deterministic: the same ``family`` and ``seed`` give the same files. Idempotent: when
    ``output_dir`` already holds a finished checkpoint of this ``family`` and ``seed`` (same
    :data:`FORMAT_VERSION`), nothing is rebuilt. The checkpoint is built in a temporary sibling
    folder and renamed into place, so a reader never sees a half-written one and concurrent
    builders of the same folder are safe (the loser discards its copy).

    ``output_dir`` may be missing or empty; a finished checkpoint of another family or seed there
    is replaced. Any other non-empty folder raises ``FileExistsError`` rather than being deleted.
    An unknown ``family`` raises ``ValueError`` naming the valid ones.
    """
    _check_family(family)
    output_dir = Path(output_dir)
    wanted = _marker_content(family, seed)
    if _read_marker(output_dir) == wanted:
        logger.debug("tiny %s checkpoint (seed %d) already in %s", family, seed, output_dir)
        return output_dir
    if output_dir.is_dir() and any(output_dir.iterdir()) and _read_marker(output_dir) is None:
        raise FileExistsError(f"{output_dir} is not empty and holds no tiny checkpoint; refusing to overwrite it")

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.tmp-", dir=output_dir.parent))
    try:
        _write_checkpoint(family, staging, seed)
        _make_readable(staging)
        _write_marker(staging, wanted)
        _move_into_place(staging, output_dir, wanted)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # no-op after a successful rename
    logger.info("built tiny %s checkpoint (seed %d) in %s", family, seed, output_dir)
    return output_dir


def tiny_model_dir(family: str, cache_root: str | Path | None = None) -> Path:
    """The seed-0 tiny checkpoint of ``family`` under ``cache_root/<family>``, built on first use.

    ``cache_root`` defaults to ``$XDG_CACHE_HOME/videossr/tiny_models`` (``~/.cache/...``): never
    the source tree. Later calls, from any process, find the marker and return at once.
    """
    _check_family(family)
    root = Path(cache_root) if cache_root is not None else _default_cache_root()
    return build_tiny_model(family, root / family, seed=0)


# --------------------------------------------------------------------------------------------
# Marker and folder handling
# --------------------------------------------------------------------------------------------


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; valid families: {', '.join(FAMILIES)}")


def _default_cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "videossr" / "tiny_models"


def _marker_content(family: str, seed: int) -> dict[str, Any]:
    return {"family": family, "seed": int(seed), "format_version": FORMAT_VERSION}


def _read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder``, or None when it is missing or unreadable (an unfinished folder)."""
    try:
        content = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def _write_marker(folder: Path, content: dict[str, Any]) -> None:
    (folder / MARKER_NAME).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _move_into_place(staging: Path, output_dir: Path, wanted: dict[str, Any]) -> None:
    """Rename the finished ``staging`` folder to ``output_dir``.

    ``os.replace`` renames a directory atomically onto a missing or empty one. An older tiny
    checkpoint (other family or seed) is first moved aside and deleted. If another process won
    the race and ``output_dir`` now holds the wanted checkpoint, ours is simply dropped.
    """
    if _read_marker(output_dir) not in (None, wanted):
        trash = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.old-", dir=output_dir.parent))
        os.replace(output_dir, trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(staging, output_dir)
    except OSError:
        if _read_marker(output_dir) != wanted:
            raise
        logger.debug("another process built %s first; keeping its copy", output_dir)


# --------------------------------------------------------------------------------------------
# Building the pieces
# --------------------------------------------------------------------------------------------


def _write_checkpoint(family: str, folder: Path, seed: int) -> None:
    """Tokenizer, processor, config, generation config and weights of one checkpoint into ``folder``."""
    tokenizer = build_tokenizer()
    token_ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    processor = build_processor(family, tokenizer)
    config = build_config(family, vocab_size=len(tokenizer), token_ids=token_ids)
    model = build_model(family, config, seed=seed)
    model.generation_config = build_generation_config(token_ids)

    with _quiet_progress_bars():
        model.save_pretrained(folder)
    # transformers 5 saves the image and video processor configs inside processor_config.json,
    # plus the tokenizer files and chat_template.jinja.
    processor.save_pretrained(folder)


@contextlib.contextmanager
def _quiet_progress_bars():
    """Hide transformers' "Writing model shards" bar (one shard here), restoring the setting after."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _make_readable(folder: Path) -> None:
    """Give ``folder`` and its files the usual umask-based modes.

    ``mkdtemp`` creates the staging folder private (0700) and some writers create private files;
    a shared cache should be readable like any other output.
    """
    umask = os.umask(0)
    os.umask(umask)  # reading the umask requires setting it; put it straight back
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def build_tokenizer():
    """A Qwen2 tokenizer (transformers' ``Qwen2Tokenizer``) trained on :data:`CORPUS`.

    Byte-level BPE with Qwen's own pre-tokenizer regex (imported from transformers, so the
    trained merges match how the wrapper splits text): every digit is its own pre-token, and
    byte-level decoding makes ``decode(encode(s)) == s`` for any text. The special tokens of
    :data:`SPECIAL_TOKENS` follow the learned vocabulary; pad is ``<|endoftext|>``, eos
    ``<|im_end|>``, there is no bos or unk (as in Qwen). The chat template is attached.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=1,
        # All 256 byte symbols up front, so any input (any language, emoji) stays encodable.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS.splitlines(), trainer)
    learned = json.loads(bpe.to_str())["model"]

    vocab = dict(learned["vocab"])
    first_special = len(vocab)
    for offset, token in enumerate(SPECIAL_TOKENS):
        vocab[token] = first_special + offset
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[tuple(pair) for pair in learned["merges"]],
        unk_token=None,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens=[t for t in SPECIAL_TOKENS if t not in (PAD_TOKEN, EOS_TOKEN)],
        errors="replace",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        model_max_length=32768,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


#: ChatML chat template, written for these checkpoints. A message's ``content`` is a string or a
#: list of items: ``{"type": "text", "text": ...}``, an image (``type`` "image" or "image_url", or
#: an ``image``/``image_url`` key) or a video (``type`` "video" or a ``video`` key). Media render as
#: one pad token between vision markers; the processor expands the pad to the real token count.
#: There is no default system message: the prompt holds exactly the messages given.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'text' -%}"
    "{{- item['text'] -}}"
    "{%- elif item['type'] in ['image', 'image_url'] or 'image' in item or 'image_url' in item -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'video' or 'video' in item -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)


def build_processor(family: str, tokenizer):
    """The family's processor around ``tokenizer``, with image and video processors.

    Pixel limits, normalisation and patch sizes are those of the released Qwen checkpoints, so the
    number of vision tokens per frame matches what the real models see for the same input.
    ``size`` is passed as a fresh dict: transformers' Qwen2-VL processors write ``min_pixels`` /
    ``max_pixels`` into their class-level default ``size`` dict, which would leak between calls.
    """
    _check_family(family)
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLProcessor
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        # Qwen2.5-VL ships one preprocessor config (min 4 patches, max 16384 merged tokens) that
        # transformers applies to images and videos alike.
        size = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 16384}
        common = {"patch_size": 14, "temporal_patch_size": 2, "merge_size": 2}
        return Qwen2_5_VLProcessor(
            image_processor=Qwen2VLImageProcessor(size=dict(size), **common),
            video_processor=Qwen2VLVideoProcessor(size=dict(size), **common),
            tokenizer=tokenizer,
            chat_template=CHAT_TEMPLATE,
        )

    from transformers import Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    common = {
        "patch_size": 16,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3,
    }
    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(size={"shortest_edge": 65536, "longest_edge": 16777216}, **common),
        # The video limits count pixels over all frames together (Qwen3-VL's video smart_resize).
        video_processor=Qwen3VLVideoProcessor(size={"shortest_edge": 4096, "longest_edge": 25165824}, **common),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


#: Text model shared by both families: 2 layers of width 64, 2 query heads and 1 key/value head
#: (grouped-query attention, as in Qwen) of 32 dims. 32 is the smallest head size vLLM's CPU
#: attention accepts (``CPUAttentionBackend.get_supported_head_sizes``, vLLM 0.28), so the same
#: checkpoints also serve as vLLM rollout/eval models on a CPU. mrope splits the 16 rotary
#: frequencies (head_dim / 2) into time, height and width.
TEXT_SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 32768,
}
MROPE_SECTION = [4, 6, 6]
HEAD_DIM = 32


def build_config(family: str, *, vocab_size: int, token_ids: dict[str, int]):
    """The family's ``PretrainedConfig``: tiny text and vision towers, token ids of the tokenizer.

    ``vocab_size`` is the tokenizer's length (no padding rows). ``token_ids`` maps each of
    :data:`SPECIAL_TOKENS` to its id. The vision tower has depth 2, width 32 and 2 heads, with the
    family's real patch geometry (14 px for Qwen2.5-VL, 16 px for Qwen3-VL; 2x2 spatial merge,
    2-frame temporal patches) and outputs the text width.
    """
    _check_family(family)
    vision_ids = {
        "image_token_id": token_ids["<|image_pad|>"],
        "video_token_id": token_ids["<|video_pad|>"],
        "vision_start_token_id": token_ids["<|vision_start|>"],
        "vision_end_token_id": token_ids["<|vision_end|>"],
    }
    vision_common = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "in_channels": 3,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": TEXT_SIZES["hidden_size"],
    }
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        text_config = {
            **TEXT_SIZES,
            "vocab_size": vocab_size,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": MROPE_SECTION},
            "bos_token_id": token_ids[PAD_TOKEN],
            "eos_token_id": token_ids[EOS_TOKEN],
            "pad_token_id": token_ids[PAD_TOKEN],
        }
        vision_config = {
            **vision_common,
            "patch_size": 14,
            "hidden_act": "silu",
            # 112 px windows = 4x4 merged tokens; the last block attends globally, as in the real model.
            "window_size": 112,
            "fullatt_block_indexes": [1],
            "tokens_per_second": 2,
        }
        config = Qwen2_5_VLConfig(
            text_config=text_config, vision_config=vision_config, tie_word_embeddings=False, **vision_ids
        )
    else:
        from transformers import Qwen3VLConfig

        text_config = {
            **TEXT_SIZES,
            "head_dim": HEAD_DIM,
            "vocab_size": vocab_size,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": MROPE_SECTION,
                "mrope_interleaved": True,
            },
            "pad_token_id": token_ids[PAD_TOKEN],
        }
        vision_config = {
            **vision_common,
            "patch_size": 16,
            "hidden_act": "gelu_pytorch_tanh",
            # A square number (8x8 grid) of learned position embeddings, interpolated to any size.
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        }
        config = Qwen3VLConfig(
            text_config=text_config, vision_config=vision_config, tie_word_embeddings=False, **vision_ids
        )
    # vLLM 0.28's CPU platform reads the language model's architectures[0] while it builds the
    # text sub-model's config (config/model.py, _get_transformers_backend_cls) and fails with
    # IndexError when it is missing; name the causal LM each text tower is (vLLM's own choice for
    # Qwen2.5-VL, qwen2_5_vl.py). Transformers ignores the field when loading.
    config.text_config.architectures = ["Qwen2ForCausalLM" if family == "qwen2_5_vl" else "Qwen3ForCausalLM"]
    # Top-level ids are what generation and verl read (Qwen's released configs carry them too).
    config.bos_token_id = token_ids[PAD_TOKEN]
    config.eos_token_id = token_ids[EOS_TOKEN]
    config.pad_token_id = token_ids[PAD_TOKEN]
    return config


def build_model(family: str, config, *, seed: int):
    """The family's ``*ForConditionalGeneration`` with random float32 weights drawn after seeding."""
    _check_family(family)
    import torch

    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration as model_class
    else:
        from transformers import Qwen3VLForConditionalGeneration as model_class
    # Seed a private generator state: fork_rng restores the caller's global RNG afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    return model.to(torch.float32).eval()


def build_generation_config(token_ids: dict[str, int]):
    """Greedy decoding that stops at ``<|im_end|>`` or ``<|endoftext|>`` and pads with the latter."""
    from transformers import GenerationConfig

    return GenerationConfig(
        bos_token_id=token_ids[PAD_TOKEN],
        eos_token_id=[token_ids[EOS_TOKEN], token_ids[PAD_TOKEN]],
        pad_token_id=token_ids[PAD_TOKEN],
        do_sample=False,
    )
