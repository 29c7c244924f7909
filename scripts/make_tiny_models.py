"""Build tiny random Qwen2.5-VL / Qwen3-VL checkpoints for offline tests and smoke runs.

Each family goes to ``OUTPUT_DIR/<family>/`` and its path is printed, one per line. A folder that
already holds the same family and seed is left as it is. Nothing is downloaded.

Example::

    python scripts/make_tiny_models.py --output-dir outputs/tiny_models
    python scripts/make_tiny_models.py --output-dir /tmp/tiny --family qwen3_vl --seed 1

Errors are reported as one line on stderr, with exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from videossr.testing.tiny_models import FAMILIES, build_tiny_model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; a bad option exits with status 2 and a one-line message."""
    from videossr.cli import OneLineErrorParser

    parser = OneLineErrorParser(description="Build tiny random Qwen-VL checkpoints (offline).")
    parser.add_argument(
        "--output-dir", type=Path, required=True, help="parent folder; each family goes to DIR/<family>/"
    )
    parser.add_argument(
        "--family", choices=(*FAMILIES, "all"), default="all", help="which family to build (default: all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default: 0)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    families = FAMILIES if args.family == "all" else (args.family,)
    try:
        for family in families:
            print(build_tiny_model(family, args.output_dir / family, seed=args.seed))
    except (ValueError, OSError) as exc:  # FileExistsError (a foreign folder) is an OSError
        message = str(exc).replace("\n", " ")
        print(f"make_tiny_models.py: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
