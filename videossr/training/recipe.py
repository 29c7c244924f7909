"""The training config exactly as ``main_ppo`` composes it: verl's ppo_trainer, our recipe, overrides.

Below both checks that need it (:mod:`~videossr.training.dry_run` and
:mod:`~videossr.training.parity`), so neither imports the other.
"""

from __future__ import annotations

from pathlib import Path


class DryRunError(Exception):
    """A configuration problem, explained in one line."""


#: The recipe train.sh hands ``main_ppo`` (``--config-path``/``--config-name``): verl's ppo_trainer + ours.
RECIPE_DIR = Path(__file__).resolve().parents[2] / "verl"
RECIPE_NAME = "videossr_grpo"


def compose_config(overrides: list[str], recipe_dir: Path = RECIPE_DIR):
    """The training config as ``main_ppo`` composes it: verl's ppo_trainer, our recipe, ``overrides``."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not (recipe_dir / f"{RECIPE_NAME}.yaml").is_file():
        raise DryRunError(f"the training recipe {recipe_dir / RECIPE_NAME}.yaml is missing (run from a clone)")
    try:
        with initialize_config_dir(config_dir=str(recipe_dir), version_base=None):
            return compose(config_name=RECIPE_NAME, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise DryRunError(f"verl rejected the overrides: {exc}".replace("\n", " ")) from exc
