"""verl agent loop whose vLLM rollouts see the same video prompt as the actor (Qwen2.5-VL, Qwen3-VL).

Selected by ``train/train.sh`` through verl's public agent-loop extension point::

    actor_rollout_ref.rollout.agent.agent_loop_config_path=verl/agent_loop.yaml
    actor_rollout_ref.rollout.agent.default_agent_loop=videossr_single_turn

The bug it fixes (verl 0.9.1 with vLLM 0.24 and 0.28; Qwen3-VL only): verl's
``SingleTurnAgentLoop`` builds the prompt with the Hugging Face processor, which expands every
video into ``<t seconds><|vision_start|><|video_pad|>×k<|vision_end|>`` per 2-frame patch, and
``vLLMHttpServer.generate`` then applies ``qwen2_5_vl_dedup_image_tokens``
(``verl/workers/rollout/utils.py``), collapsing each pad run, so a one-video prompt reaches vLLM
as 24 single-pad frame groups. vLLM expands only the first N placeholders it finds, N = number of
videos: the whole video's features land in frame 0's slot, 23 pixel-less pad blocks follow, and
clips 3-6 of a jigsaw prompt get no pixels. No error is raised. (Qwen2.5-VL is unaffected: one pad
run per video.) :mod:`videossr.training.parity` shows it on verl's stock loop.

The fix: the loop sends vLLM the chat-template text tokenised as is, one
``<|vision_start|><|video_pad|><|vision_end|>`` per video (verl's de-duplication leaves a single
pad alone, and vLLM expands each placeholder once, in order), and trains the actor on that prompt
expanded the way vLLM expands it (:mod:`videossr.qwen_vl.video_prompt`). Everything else is
verl's ``SingleTurnAgentLoop``: frames, processor features, response merging, post-processing.
Models of another family fall back to verl's behaviour unchanged.

Qwen2.5-VL also gets the model's own clock on both sides (:mod:`videossr.qwen_vl.rope`): each
request hands vLLM's processor the videos' metadata (which vLLM's parser drops for this family,
falling back to 24 fps), and the actor's position ids follow the same rule as vLLM's instead of
verl's 1 s per temporal patch.
"""

from __future__ import annotations

import logging
from typing import Any

from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop

from videossr.qwen_vl.rope import rollout_mm_processor_kwargs, use_model_clock
from videossr.qwen_vl.video_prompt import (
    FAMILY_OF_MODEL_TYPE,
    expand_video_placeholders,
    rollout_prompt_ids,
    video_layouts,
)

logger = logging.getLogger(__name__)

#: The name train.sh selects (``verl/agent_loop.yaml`` maps it to :class:`VideoSSRAgentLoop`).
AGENT_LOOP_NAME = "videossr_single_turn"


class _RolloutPromptClient:
    """Passes calls to verl's LLM server client, handing ``generate`` the rollout prompt.

    ``SingleTurnAgentLoop.run`` sends vLLM the very ids it trains on; this swaps in the rollout
    ids when (and only when) the prompt is the expanded one the loop built.
    """

    def __init__(self, client, owner: VideoSSRAgentLoop):
        self._client = client
        self._owner = owner

    async def generate(self, request_id, *, prompt_ids: list[int], **kwargs: Any):
        pending = self._owner._rollout_prompt
        if pending is not None and list(prompt_ids) == pending[0]:
            prompt_ids = pending[1]
        clock = rollout_mm_processor_kwargs(self._owner.processor, kwargs.get("video_data"))
        if clock:
            kwargs["mm_processor_kwargs"] = {**(kwargs.get("mm_processor_kwargs") or {}), **clock}
        return await self._client.generate(request_id, prompt_ids=prompt_ids, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._client, name)


class VideoSSRAgentLoop(SingleTurnAgentLoop):
    """verl's single-turn agent loop with rollout/actor prompt parity for Qwen-VL videos."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hf_model_type = kwargs.get("hf_model_type")
        self._family = FAMILY_OF_MODEL_TYPE.get(hf_model_type or "")
        if self._family is None:
            logger.warning("model_type %r is not Qwen-VL: verl's own prompt building is used", hf_model_type)
        #: (expanded ids the actor sees, ids sent to vLLM) of the prompt being generated.
        self._rollout_prompt: tuple[list[int], list[int]] | None = None
        if self._family is not None:
            # Qwen2.5-VL only: the actor's position ids on the rollout's clock, seconds in its dtype.
            use_model_clock(self.processor, self.rollout_config.get("dtype"))
        self.server_manager = _RolloutPromptClient(self.server_manager, self)

    async def ct_build_initial_tokens(
        self, messages, tools=None, images=None, videos=None, audios=None, mm_inputs_out=None
    ):
        mm_inputs = {} if mm_inputs_out is None else mm_inputs_out
        processor_ids = await super().ct_build_initial_tokens(
            messages, tools=tools, images=images, videos=videos, audios=audios, mm_inputs_out=mm_inputs
        )
        if self._family is None or not videos or images or audios or tools:
            return processor_ids  # only video prompts need (and get) the rewrite
        text = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, **dict(self.apply_chat_template_kwargs or {})
        )
        rollout_ids = rollout_prompt_ids(self.tokenizer, text, len(videos))
        layouts = video_layouts(self.processor, mm_inputs["video_grid_thw"], videos)
        actor_ids = expand_video_placeholders(self.tokenizer, self.processor, rollout_ids, layouts)
        pad = self.processor.video_token_id
        if actor_ids.count(pad) != processor_ids.count(pad):
            # Same grids, so the counts must agree; anything else is a processor we do not know.
            raise ValueError(
                f"expanded prompt has {actor_ids.count(pad)} video pads, the processor's {processor_ids.count(pad)}"
            )
        if len(actor_ids) > self.rollout_config.prompt_length:
            raise ValueError(
                f"Multimodal prompt produced {len(actor_ids)} tokens, exceeding "
                f"rollout.prompt_length={self.rollout_config.prompt_length}"
            )
        self._rollout_prompt = (actor_ids, rollout_ids)
        return actor_ids
