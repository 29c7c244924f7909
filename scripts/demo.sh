#!/usr/bin/env bash
# Set everything up (idempotent) and run the pipeline on the bundled sample videos (data/videos/).
# Outputs go to outputs/demo/ (OUT=... to change). Nothing is written into data/.
# Usage: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
OUT="${OUT:-outputs/demo}"
PY=.venv/bin/python

echo "== 1/6 sampling 48 frames per video from data/videos"
$PY pretext_tasks/sample_frames.py --video-dir data/videos --output-dir "$OUT/frames"

echo "== 2/6 pretext-task data: all 17 grounding perturbations, counting easy+hard, jigsaw 6+8"
$PY pretext_tasks/grounding.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --perturbation all
$PY pretext_tasks/counting.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --difficulty easy
$PY pretext_tasks/counting.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --difficulty hard
$PY pretext_tasks/jigsaw.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --num-clips 6
$PY pretext_tasks/jigsaw.py --frames-dir "$OUT/frames" --output-dir "$OUT/data" --num-clips 8

echo "== 3/6 the VideoSSR-30K training mix (4 clips < 6 parts, so every part reuses every clip)"
$PY pretext_tasks/build_mix.py --frames-dir "$OUT/frames" --output-dir "$OUT/mix" --reuse-videos

echo "== 4/6 contact sheets of one sample per task"
for key in grounding/channelswap grounding/shuffle counting/easy jigsaw/6; do
    $PY pretext_tasks/preview.py "$OUT/data/$key.parquet" --index 1
done

echo "== 5/6 training configuration check (verl's own config validation; no GPU needed)"
TINY=$($PY scripts/make_tiny_models.py --output-dir outputs/tiny_models --family qwen3_vl)
PYTHON=$PY DATA_DIR="$OUT/mix" MODEL_PATH="$TINY" bash train/train.sh --dry-run | grep -v "^\[validate_config\]"

echo "== 6/6 a mini VIUBench (2 questions per subtype), scored for the random baseline and a tiny model"
$PY eval/viubench.py build --frames-dir "$OUT/frames" --output-dir "$OUT/viubench" --per-subtype 2 --reuse-videos
$PY eval/viubench.py run --benchmark "$OUT/viubench/viubench.json" --backend random --output-dir "$OUT/results/random"
$PY eval/viubench.py run --benchmark "$OUT/viubench/viubench.json" --model "$TINY" --max-new-tokens 8 \
    --output-dir "$OUT/results/tiny_qwen3_vl"

echo "== report: one offline HTML page of both runs, and one of the training mix"
$PY pretext_tasks/preview.py "$OUT/mix" --html "$OUT/mix_report.html" >/dev/null
REPORT=$($PY eval/report.py "$OUT/results/random" "$OUT/results/tiny_qwen3_vl" --output "$OUT/report.html" | tail -1)

cat <<EOT

Done. Outputs under $OUT/:
  frames/<video_id>/0.jpg .. 47.jpg   sampled frames; frames/index.jsonl has sample_fps etc.
  data/<task>/<variant>.parquet       one file per variant key (grounding/channelswap, counting/easy,
                                      jigsaw/6, ...), verl's row format (+ .jsonl)
  data/frames/<task>/<variant>/...    the frames each sample changed
  data/<task>/previews/*.png          contact sheets: open one to see a sample
  mix/<task>/*.parquet, mix/val.parquet  the training files train/train.sh reads (DATA_DIR=$OUT/mix)
  */manifest.json                     settings, counts, skipped videos with reasons
  viubench/viubench.json              the mini VIUBench (eval/viubench.py build)
  results/<model>/summary.json        its scores (random baseline, tiny random model)
  outputs/tiny_models/qwen3_vl        a tiny random Qwen3-VL (offline) used for the dry run and eval
  report.html                         the results report (Table 1, galleries); mix_report.html: the mix

On a GPU cluster: MODEL_PATH=/models/Qwen3-VL-8B-Instruct DATA_DIR=/data/videossr30k bash train/train.sh
EOT
echo "Report: $REPORT (open it in a browser; it works offline)"
