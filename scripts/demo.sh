#!/usr/bin/env bash
# Set everything up (idempotent) and run the pipeline on the bundled sample videos (data/videos/).
# Outputs go to outputs/demo/ (OUT=... to change). Nothing is written into data/.
# Usage: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
OUT="${OUT:-outputs/demo}"
PY=.venv/bin/python

echo "== 1/1 sampling 48 frames per video from data/videos"
$PY pretext_tasks/sample_frames.py --video-dir data/videos --output-dir "$OUT/frames"

cat <<EOT

Done. Outputs:
  $OUT/frames/<video_id>/0.jpg .. 47.jpg   sampled frames
  $OUT/frames/index.jsonl                  one record per video (sample_fps, frame_indices, ...)
  $OUT/frames/failures.jsonl               videos that could not be sampled, with the reason
  $OUT/frames/manifest.json                settings, counts, versions
EOT
