"""Convert benchmark annotation files to the unified record format read by eval/vqa.py and eval/vtg.py.

Every converter prints what it did (records, videos, reversed spans fixed, spans past the duration,
zero-length spans, missing durations, duplicates) and stops with a one-line error naming the file
and line of what it cannot read (not UTF-8, NaN/inf/negative times, malformed entries, a durations
file matching no video).

Examples (grounding -> eval/vtg.py):
    python eval/convert.py charades --annotations charades_sta_test.txt \\
        --durations Charades_v1_test.csv --output data/charades_sta_test.json
    python eval/convert.py sentences-json --input activitynet/val_2.json --output data/anet_val2.json
    python eval/convert.py tvgbench --input timer1/annotations/tvgbench.json --output data/tvgbench.json
    python eval/convert.py qvhighlights --input highlight_val_release.jsonl --output data/qvh_val.json
    python eval/convert.py tacos --input tacos/test.json --output data/tacos_test.json
Examples (multiple choice -> eval/vqa.py):
    python eval/convert.py tempcompass --input tempcompass/questions/multi-choice.json --output data/tempcompass.json
    python eval/convert.py mvbench --input mvbench/json --output data/mvbench.json
    python eval/convert.py videomme --input videomme/test-00000-of-00001.parquet --output data/videomme.json
    python eval/convert.py longvideobench --input longvideobench/lvb_val.json --output data/lvb_val.json
    python eval/convert.py lvbench --input lvbench/video_info.meta.jsonl --output data/lvbench.json
    python eval/convert.py videommmu --input videommmu/Comprehension/test-00000-of-00001.parquet \
        --output data/videommmu_c.json
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
    input: Path | None = field(
        default=None, metadata={"help": "{vid: {duration, timestamps, sentences}} JSON", "required": True}
    )
    output: Path | None = field(default=None, metadata={"help": "unified JSON file to write", "required": True})
    strip_prefix: str = field(
        default="",
        metadata={"help": "drop this prefix from video ids (e.g. v_ for ActivityNet files named without it)"},
    )


@dataclass
class InputConfig:
    input: Path | None = field(
        default=None, metadata={"help": "the benchmark's annotation file (or folder, for mvbench)", "required": True}
    )
    output: Path | None = field(default=None, metadata={"help": "unified JSON file to write", "required": True})


@dataclass
class TacosConfig(InputConfig):
    fps: float | None = field(default=None, metadata={"help": "frames per second for entries without an fps field"})


COMMANDS = {
    "charades": (CharadesConfig, "Charades-STA lines + CSV durations"),
    "sentences-json": (SentencesJsonConfig, "ActivityNet Captions / TimeZero JSON"),
    "tvgbench": (InputConfig, "Time-R1's TVGBench JSON list"),
    "qvhighlights": (InputConfig, "QVHighlights JSONL (several windows per query)"),
    "tacos": (TacosConfig, "TACoS in 2D-TAN's JSON (frame timestamps + fps)"),
    "tempcompass": (InputConfig, "TempCompass multi-choice.json"),
    "mvbench": (InputConfig, "MVBench json/ folder of per-task files"),
    "videomme": (InputConfig, "Video-MME parquet (or JSON/JSONL of its rows)"),
    "longvideobench": (InputConfig, "LongVideoBench lvb_val.json (or its parquet)"),
    "lvbench": (InputConfig, "LVBench video_info.meta.jsonl"),
    "videommmu": (InputConfig, "VideoMMMU track parquet (multiple-choice questions)"),
}


def main(argv: list[str] | None = None) -> int:
    command, config = parse_subcommand(COMMANDS, argv, description=__doc__.split("\n\n")[0], prog=PROG)
    from videossr.eval import convert
    from videossr.io import write_json_atomic

    try:
        if command == "charades":
            durations = convert.read_charades_durations(config.durations) if config.durations else None
            result = convert.convert_charades_sta(config.annotations, durations)
        elif command == "sentences-json":
            result = convert.convert_sentences_json(config.input, config.strip_prefix)
        elif command == "tacos":
            result = convert.convert_tacos(config.input, config.fps)
        else:
            result = convert.CONVERTERS[command](config.input)
    except ConfigError as exc:
        fail(str(exc), PROG)
    write_json_atomic(config.output, result.records)
    print(f"{command}: {result.counts.describe()} -> {config.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
