"""The viubench task's functions, as lmms-eval imports them (``!function utils.<name>``).

They live in this repository's package (``videossr.eval.lmms_eval.task``), which must be
importable in lmms-eval's environment: ``pip install -e /path/to/this/repository`` there.
"""

try:
    from videossr.eval.lmms_eval.task import (
        AGGREGATIONS,
        doc_to_messages,
        doc_to_target,
        doc_to_text,
        doc_to_visual,
        load_docs,
        process_results,
    )
except ImportError as exc:  # the task folder was found, the package was not
    raise ImportError(
        "the viubench lmms-eval task needs the videossr package of this repository in lmms-eval's environment: "
        f"pip install -e <the repository's folder> ({exc})"
    ) from exc

__all__ = ["doc_to_messages", "doc_to_target", "doc_to_text", "doc_to_visual", "load_docs", "process_results"]

# One aggregation per metric of viubench.yaml, named after its metric (``/`` -> ``_``).
for _metric, _function in AGGREGATIONS.items():
    globals()[_function.__name__] = _function
    __all__.append(_function.__name__)
