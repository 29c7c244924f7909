"""Video temporal grounding: mIoU and recall at IoU >= 0.3/0.5/0.7 (Charades-STA, ActivityNet, ...).

Records: {"video": id, "question": sentence, "answer": "start - end"} in seconds (convert the
usual annotation files with eval/convert.py). Protocol of the paper by default: 2 fps, at most 48
frames, 512x512 pixels, greedy decoding, lmms-eval's prompt. Spans are parsed leniently
("12.5 - 20.0", "12.5 to 20", "1:02 - 1:30", reversed spans swapped); unparsable answers and failed
items score IoU 0.

Examples:
    python eval/vtg.py --benchmark data/charades_sta_test.json --video-dir /data/Charades_v1 \\
        --backend vllm --model /models/Qwen3-VL-8B-Instruct --output-dir results/charades/qwen3vl8b
"""

import sys

from videossr.eval.external_cli import main

if __name__ == "__main__":
    sys.exit(main("vtg", __doc__))
