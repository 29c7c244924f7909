"""Our side of the verl integration: what train.sh selects through verl's extension points, and checks.

* :mod:`~videossr.training.agent_loop`: the agent loop whose vLLM rollouts see the actor's video
  prompt (``actor_rollout_ref.rollout.agent.*``); its token rule is
  :mod:`~videossr.qwen_vl.video_prompt` (shared with the vLLM eval backend);
* :mod:`~videossr.training.dataset`: verl's ``RLHFDataset`` with a length filter that decodes no
  frame (``data.custom_cls``); :mod:`~videossr.training.online_dataset`: pretext tasks made online;
* :mod:`~videossr.training.recipe`: the composed config; :mod:`~videossr.training.dry_run`
  (``train.sh --dry-run``) and :mod:`~videossr.training.parity`
  (``python -m videossr.training.parity``): checks without GPUs.

verl itself is a dependency (PyPI ``verl``), never copied or edited; the reward entry point verl
loads is ``verl/reward.py`` at the repository root (or ``pkg://videossr.rewards.scoring``).
"""
