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

KEYS = ["miou", "recall@0.3", "recall@0.5", "recall@0.7"]


def main(argv: list[str] | None = None) -> int:
    config = parse_flags(argv, __doc__, "vtg.py")  # flags: videossr/eval/external_cli.py ExternalConfig
    try:
        records, skipped = load_valid_records(config, "vtg")  # every answer checked; bad ids listed
        if not config.score_only:
            answer_benchmark(config, "vtg", records)  # resumable; each video decoded once
        # mIoU and recall: the span read from each answer against the record's best ground truth
        summary = external.score_vtg(records, read_run_responses(config), legacy=config.legacy_denominator)
    except ConfigError as exc:
        fail(str(exc), "vtg.py")
    write_summary(config, "vtg", summary, skipped, KEYS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
