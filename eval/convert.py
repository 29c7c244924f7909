"""Convert temporal-grounding annotations to the unified record format read by eval/vtg.py.

Examples:
    python eval/convert.py charades --annotations charades_sta_test.txt \\
        --durations Charades_v1_test.csv --output data/charades_sta_test.json
    python eval/convert.py sentences-json --input activitynet/val_2.json --output data/anet_val2.json
    python eval/convert.py sentences-json --input timezero/charades_test.json --output data/charades_tz.json
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from videossr.cli import fail, parse_subcommand
from videossr.errors import ConfigError

PROG = Path(__file__).name


@dataclass
class CharadesConfig:
    annotations: Path | None = field(default=None, metadata={"help": "charades_sta_test.txt", "required": True})
    durations: Path | None = field(default=None, metadata={"help": "Charades_v1_test.csv (adds each video's duration)"})
    output: Path | None = field(default=None, metadata={"help": "unified JSON file to write", "required": True})


@dataclass
class SentencesJsonConfig:
    input: Path | None = field(default=None, metadata={"help": "{vid: {duration, timestamps, sentences}} JSON", "required": True})
    output: Path | None = field(default=None, metadata={"help": "unified JSON file to write", "required": True})
    strip_prefix: str = field(default="", metadata={"help": "drop this prefix from video ids (e.g. v_ for ActivityNet files named without it)"})


def main(argv: list[str] | None = None) -> int:
    command, config = parse_subcommand(
        {"charades": (CharadesConfig, "Charades-STA lines + CSV durations"),
         "sentences-json": (SentencesJsonConfig, "ActivityNet Captions / TimeZero JSON")},
        argv, description=__doc__.split("\n\n")[0], prog=PROG,
    )  # fmt: skip
    from videossr.eval import convert
    from videossr.io import write_json_atomic

    try:
        if command == "charades":
            durations = convert.read_charades_durations(config.durations) if config.durations else None
            records = convert.convert_charades_sta(config.annotations, durations)
        else:
            records = convert.convert_sentences_json(config.input, config.strip_prefix)
    except ConfigError as exc:
        fail(str(exc), PROG)
    write_json_atomic(config.output, records)
    print(f"{len(records)} queries over {len({r['video'] for r in records})} videos -> {config.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
