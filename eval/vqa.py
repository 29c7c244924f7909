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

from videossr.eval.external_cli import main

if __name__ == "__main__":
    sys.exit(main("vqa", __doc__))
