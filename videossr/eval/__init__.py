"""Evaluation: VIUBench (built from sampled frames) and external video benchmarks (VQA, VTG).

Layout: ``records`` (the unified record format and its I/O), ``viubench`` (builder and scorer),
``metrics`` (accuracy, IoU recall), ``responses`` (the resumable responses file), ``backends``
(random, transformers, vLLM behind one interface), ``runner`` (the loop that ties them).
"""
