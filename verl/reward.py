"""VideoSSR's reward for verl: point ``reward.custom_reward_function.path`` at this file.

    reward.custom_reward_function.path=verl/reward.py
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.reward_mode=smooth     # or strict (the ablation)

The same function is importable from the installed package as
``reward.custom_reward_function.path=pkg://videossr.rewards.scoring``. It dispatches on
``data_source`` (``grounding``, ``counting``, ``jigsaw``; ``shuffled`` is accepted for data made by
the released code) and returns ``{"score", "smooth", "strict", "parsed", "format"}`` for every
task, so verl logs the same keys for all of them. See ``videossr/rewards/scoring.py``.

This folder holds our verl integration only; verl itself comes from PyPI.
"""

from videossr.rewards.scoring import compute_score

__all__ = ["compute_score"]
