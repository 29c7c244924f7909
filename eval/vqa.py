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

from videossr.eval import external
from videossr.eval.external_cli import evaluate, parse_flags

#: The headline metrics printed first (summary.json holds every metric).
KEYS = ["accuracy"]


def main(argv: list[str] | None = None) -> int:
    config = parse_flags(argv, __doc__, "vqa.py")  # the flags: ExternalConfig in videossr/eval/external_cli.py
    # Check the records, answer what is not answered yet, then score the option letter read from
    # each answer against the record's answer.
    return evaluate("vqa", config, score=external.score_vqa, keys=KEYS)


if __name__ == "__main__":
    sys.exit(main())
