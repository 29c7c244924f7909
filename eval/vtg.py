"""Video temporal grounding: mIoU and recall at IoU >= 0.3/0.5/0.7 (Charades-STA, ActivityNet, ...).

Records: {"video": id, "question": sentence, "answer": "start - end"} in seconds, or a list of such
spans (several ground-truth windows: the best IoU counts); convert the usual annotation files with
eval/convert.py. Protocol of the paper by default: 2 fps, at most 48 frames, 512x512 pixels, greedy
decoding, lmms-eval's prompt. Spans are parsed from the final answer in any common phrasing
("12.5 - 20.0", "from 12.5 to 20 seconds", "1:02 - 1:30", "starts at 00:00:24 and ends at
00:00:30", "[24.3, 30.4]", {"start": 24.3, "end": 30.4}; reversed spans swapped); unparsable answers
and failed items score IoU 0 and summary.json shows a few of them. Invalid records stop the run with
their ids (or --skip-invalid).

Examples:
    python eval/vtg.py --benchmark data/charades_sta_test.json --video-dir /data/Charades_v1 \\
        --backend vllm --model /models/Qwen3-VL-8B-Instruct --output-dir results/charades/qwen3vl8b
"""

import sys

from videossr.eval import external
from videossr.eval.external_cli import evaluate, parse_flags

#: The headline metrics printed first (summary.json holds every metric).
KEYS = ["miou", "recall@0.3", "recall@0.5", "recall@0.7"]


def main(argv: list[str] | None = None) -> int:
    config = parse_flags(argv, __doc__, "vtg.py")  # the flags: ExternalConfig in videossr/eval/external_cli.py
    # Check the records, answer what is not answered yet, then score the span read from each
    # answer against the record's best ground-truth window.
    return evaluate("vtg", config, score=external.score_vtg, keys=KEYS)


if __name__ == "__main__":
    sys.exit(main())
