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
from dataclasses import dataclass
from pathlib import Path

from videossr.cli import add_command, command_parsers, fail, parse_command
from videossr.errors import ConfigError

PROG = Path(__file__).name


@dataclass(kw_only=True)
class CharadesConfig:
    annotations: Path
    durations: Path | None = None
    output: Path


@dataclass(kw_only=True)
class SentencesJsonConfig:
    input: Path
    output: Path
    strip_prefix: str = ""


@dataclass(kw_only=True)
class InputConfig:
    input: Path
    output: Path


@dataclass(kw_only=True)
class TacosConfig(InputConfig):
    fps: float | None = None


#: Command -> (what it reads, its config). Every command takes --output; see build_parsers.
COMMANDS = {
    "charades": ("Charades-STA lines + CSV durations", CharadesConfig),
    "sentences-json": ("ActivityNet Captions / TimeZero JSON", SentencesJsonConfig),
    "tvgbench": ("Time-R1's TVGBench JSON list", InputConfig),
    "qvhighlights": ("QVHighlights JSONL (several windows per query)", InputConfig),
    "tacos": ("TACoS in 2D-TAN's JSON (frame timestamps + fps)", TacosConfig),
    "tempcompass": ("TempCompass multi-choice.json", InputConfig),
    "mvbench": ("MVBench json/ folder of per-task files", InputConfig),
    "videomme": ("Video-MME parquet (or JSON/JSONL of its rows)", InputConfig),
    "longvideobench": ("LongVideoBench lvb_val.json (or its parquet)", InputConfig),
    "lvbench": ("LVBench video_info.meta.jsonl", InputConfig),
    "videommmu": ("VideoMMMU track parquet (multiple-choice questions)", InputConfig),
}


def build_parsers():
    """The parser and, per command, its parser and config class."""
    parser, commands = command_parsers(__doc__, PROG)
    configs = {}
    for name, (help_text, config_cls) in COMMANDS.items():
        child = add_command(commands, name, help_text)
        if config_cls is CharadesConfig:
            child.add_argument("--annotations", type=Path, required=True, help="charades_sta_test.txt")
            child.add_argument("--durations", type=Path, help="Charades_v1_test.csv (adds each video's duration)")
        elif config_cls is SentencesJsonConfig:
            child.add_argument(
                "--input", type=Path, required=True, help="{vid: {duration, timestamps, sentences}} JSON"
            )
        else:
            child.add_argument(
                "--input", type=Path, required=True, help="the benchmark's annotation file (or folder, for mvbench)"
            )
        child.add_argument("--output", type=Path, required=True, help="unified JSON file to write")
        if config_cls is SentencesJsonConfig:
            child.add_argument(
                "--strip-prefix",
                help="drop this prefix from video ids (e.g. v_ for ActivityNet files named without it)",
            )
        if config_cls is TacosConfig:
            child.add_argument("--fps", type=float, help="frames per second for entries without an fps field")
        configs[name] = (child, config_cls)
    return parser, configs


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parsers()
    command, config = parse_command(parser, commands, argv)
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
