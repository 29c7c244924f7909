"""VIUBench inside lmms-eval, and lmms-eval's result files inside our report.

- ``task``: the functions of the ``viubench`` lmms-eval task (``eval/lmms_eval_tasks/viubench/``):
  the docs of a ``viubench.json``, their prompts for lmms-eval's chat and simple model wrappers,
  and the metrics, computed by our scorer so that lmms-eval's numbers are ``eval/viubench.py
  score``'s. Plain Python: importable without lmms-eval.
- ``model``: the ``videossr`` lmms-eval model, which answers each VIUBench doc exactly as
  ``eval/viubench.py run`` does (our backends, each video at its own frame rate). Imports
  lmms-eval; registered through lmms-eval's ``lmms_eval.models`` entry point (``plugin``).
- ``results``: reading an lmms-eval output folder (``*_results.json``, ``*_samples_<task>.jsonl``)
  for ``eval/report.py``. Plain Python.
"""
