"""Multiple-choice video QA accuracy (MVBench, TempCompass, Video-MME, LVBench, ... in the unified format).

Protocol of the paper by default: 2 fps, at most 48 frames (--max-frames 32|48|64), 512x512 pixels,
greedy decoding, prompt "{question}\\nAnswer with the option letter directly.". The option letter is
parsed from anywhere sensible in the answer; unparsable answers and failed items count as wrong.

Examples:
    python eval/vqa.py --benchmark data/mvbench.json --video-dir /data/mvbench/videos \\
        --backend vllm --model /models/Qwen3-VL-8B-Instruct --output-dir results/mvbench/qwen3vl8b
    python eval/vqa.py --benchmark data/mvbench.json --output-dir results/mvbench/qwen3vl8b --score-only
"""

import sys

from videossr.errors import ConfigError
from videossr.eval import external
from videossr.eval.external_cli import (
    answer_benchmark,
    fail,
    load_valid_records,
    parse_flags,
    read_run_responses,
    write_summary,
)

KEYS = ["accuracy"]


def main(argv: list[str] | None = None) -> int:
    config = parse_flags(argv, __doc__, "vqa.py")  # flags: videossr/eval/external_cli.py ExternalConfig
    try:
        records, skipped = load_valid_records(config, "vqa")  # every answer checked; bad ids listed
        if not config.score_only:
            answer_benchmark(config, "vqa", records)  # resumable; each video decoded once
        # accuracy: the option letter read from each answer against the record's ground truth
        summary = external.score_vqa(records, read_run_responses(config), legacy=config.legacy_denominator)
    except ConfigError as exc:
        fail(str(exc), "vqa.py")
    write_summary(config, "vqa", summary, skipped, KEYS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
