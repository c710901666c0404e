#!/usr/bin/env bash
# After testbed/train.py: export the model, calibrate its priors, evaluate every method in both modes.
# Run from the repository root: bash testbed/finish.sh   (uses testbed/data/{calib,eval} from `testbed generate`)
set -euo pipefail
CLI="npx tsx src/cli/main.ts"
[ -d testbed/data/calib ] || $CLI testbed generate --seed 3000 --count 1000 --out testbed/data/calib --quiet
[ -d testbed/data/eval ] || $CLI testbed generate --seed 7 --count 800 --out testbed/data/eval --quiet
OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 testbed/export.py --checkpoint testbed/checkpoints/final.pt --out models/testbed
# export.py also writes the hand split (decoder_prefix/suffix.onnx); nothing reads it any more (the decoder is split automatically).
rm -f models/testbed/onnx/decoder_prefix.onnx models/testbed/onnx/decoder_suffix.onnx
# Positional priors from 1,000 scenes (seed 3000) and one generic prompt: layer K-1 attention (layer mode), prompt relevance (input mode).
# Their shape in numbers (bottom/right half, border ring, top-10% share) goes to testbed/results/prior-bias.txt.
mkdir -p testbed/results
{
  $CLI testbed prior --model models/testbed --images testbed/data/calib/images --prompt "what is there?" --out models/testbed/prior-attention.json --quiet
  $CLI calibrate --model models/testbed --layer 0 --images testbed/data/calib/images --prompt "what is there?" --out models/testbed/prior.json --quiet
} | tee testbed/results/prior-bias.txt
METHODS=none,d2pruner,fastv,divprune,dart,cdpruner,visionzip,random,uniform
ABLATIONS="d2pruner:prior=none,d2pruner:alpha=0.5,d2pruner:pivotRatio=0.5,d2pruner:pivotRatio=0.9"
$CLI eval --data testbed/data/eval/cases.jsonl --mode layer --layer 2 --methods "$METHODS,$ABLATIONS" --budgets 192,128,64,32 --out testbed/results/layer --quiet
$CLI eval --data testbed/data/eval/cases.jsonl --mode input --methods "$METHODS,$ABLATIONS" --budgets 192,128,64,32 --out testbed/results/input --quiet
