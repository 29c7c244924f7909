"""Our side of the verl integration: checking a training configuration without GPUs.

verl itself is a dependency (PyPI ``verl``), never copied; the reward entry point verl loads is
``verl/reward.py`` at the repository root (or ``pkg://videossr.rewards.scoring``).
"""
