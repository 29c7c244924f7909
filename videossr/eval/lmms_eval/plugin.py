"""lmms-eval's entry point for this package (``[project.entry-points."lmms_eval.models"]``).

lmms-eval (0.7) loads every ``lmms_eval.models`` entry point when it starts and registers the
manifests it returns; ours names the ``videossr`` model by class path, so nothing heavy is
imported until a run asks for it.
"""

from __future__ import annotations


def manifests():
    """The manifest of the ``videossr`` model (:class:`videossr.eval.lmms_eval.model.VideoSSRModel`)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [ModelManifest(model_id="videossr", simple_class_path="videossr.eval.lmms_eval.model.VideoSSRModel")]
