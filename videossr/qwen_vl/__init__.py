"""What training and evaluation share about Qwen-VL models, below both.

* :mod:`~videossr.qwen_vl.video_prompt`: the token ids of a video prompt, as vLLM is given them
  and as vLLM (and so the actor) sees them expanded. The verl agent loop, verl dataset and the
  vLLM eval backend all build their prompts here, so rollouts, training and evaluation cannot
  drift apart.
"""
