"""Rewards of the three pretext tasks, in three pure layers.

1. parse: response text -> answer, or None when it does not follow the asked format;
2. score: (answer, ground truth) -> float in [0, 1], smooth (the paper's) or strict (0/1, the
   paper's ablation);
3. combine: :func:`videossr.rewards.scoring.compute_score` -> a dict with ``score`` and the same
   named sub-scores for every task (what verl logs).

Malformed model output scores 0 and never raises; malformed ground truth is our bug and raises
``ValueError``. Evaluation (VIUBench) reuses the parsers, so training and evaluation cannot drift.
"""
