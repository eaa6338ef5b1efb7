#!/usr/bin/env bash
# Quality benchmark: train A to B on the bundled glyphs for a fixed number of iterations,
# translate testA, and report the mean absolute error against testB next to the
# untranslated baseline (testA itself).
#   bash bench/glyph_quality.sh BUILD_DIR [ITERATIONS (2000)] [NGF (32)]
set -euo pipefail
build=${1:?usage: bench/glyph_quality.sh BUILD_DIR [ITERATIONS] [NGF]}
iters=${2:-2000}
ngf=${3:-32}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mktemp -d)
data=$root/data/glyphs

start=$(date +%s)
"$build/clgan-cyclegan" train --dataroot "$data" --name quality --checkpoints_dir "$out" \
    --input_nc 1 --output_nc 1 --load_size 32 --crop_size 32 --preprocess none --no_flip \
    --netG resnet_6blocks --ngf "$ngf" --ndf "$ngf" --n_epochs 100 --n_epochs_decay 100 \
    --print_freq 500 --max_iters "$iters" --seed 1
seconds=$(( $(date +%s) - start ))
"$build/clgan-cyclegan" translate --model "$out/quality/latest_net_G_A.safetensors" \
    --input "$data/testA" --output "$out/fake_B" >/dev/null

echo "budget: $iters iterations, ngf $ngf, $seconds s of training"
echo -n "untranslated baseline: "; "$build/clgan-bench-mae" "$data/testA" "$data/testB"
echo -n "translated A to B:     "; "$build/clgan-bench-mae" "$out/fake_B" "$data/testB"
rm -rf "$out"
