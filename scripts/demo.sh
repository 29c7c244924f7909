#!/usr/bin/env bash
# Set everything up (idempotent) and run the pipeline on the bundled sample videos (data/videos/).
# Outputs go to outputs/demo/ (OUT=... to change). Nothing is written into data/.
# Usage: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
OUT="${OUT:-outputs/demo}"
PY=.venv/bin/python

echo "== 1/4 sampling 48 frames per video from data/videos"
$PY pretext_tasks/sample_frames.py --video-dir data/videos --output-dir "$OUT/frames"

echo "== 2/4 pretext-task data: all 17 grounding perturbations, counting easy+hard, jigsaw 6+8"
$PY pretext_tasks/grounding.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --perturbation all
$PY pretext_tasks/counting.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --difficulty easy
$PY pretext_tasks/counting.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --difficulty hard
$PY pretext_tasks/jigsaw.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --num-clips 6
$PY pretext_tasks/jigsaw.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --num-clips 8

echo "== 3/4 the VideoSSR-30K training mix (4 clips < 6 parts, so every part reuses every clip)"
$PY pretext_tasks/build_mix.py --frames-dir "$OUT/frames" --output-dir "$OUT/mix" --reuse-videos

echo "== 4/4 contact sheets of one sample per task"
for file in channelswap shuffle counting jigsaw6; do
    $PY pretext_tasks/preview.py "$OUT/data/$file.parquet" --index 1
done

cat <<EOT

Done. Outputs under $OUT/:
  frames/<video_id>/0.jpg .. 47.jpg   sampled frames; frames/index.jsonl has sample_fps etc.
  data/<name>.parquet (+ .jsonl)      one file per perturbation / task, verl's row format
  data/frames/<name>/...              the frames each sample changed
  data/previews/*.png                 contact sheets: open one to see a sample
  mix/*.parquet, mix/val.parquet      the training files train/train.sh reads (DATA_DIR=$OUT/mix)
  */manifest.json                     settings, counts, skipped videos with reasons
EOT
