#!/usr/bin/env bash
# The main job on the bundled data: train CycleGAN to turn DejaVu Sans glyphs (A) into
# DejaVu Serif Bold Italic (B) on the default device, translate the test glyphs, then
# style a bundled photo with a bundled texture.
set -euo pipefail
build=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${CLGAN_DEMO_DIR:-$root/out/demo}
iters=${CLGAN_DEMO_ITERS:-400}

"$build/clgan-devices" | sed -n '/^\*/,/^$/p'
"$build/clgan-cyclegan" train --dataroot "$root/data/glyphs" --name glyphs \
    --checkpoints_dir "$out/checkpoints" --input_nc 1 --output_nc 1 \
    --load_size 32 --crop_size 32 --preprocess none --no_flip \
    --netG resnet_6blocks --ngf 16 --ndf 16 --n_epochs 2 --n_epochs_decay 1 \
    --save_epoch_freq 1 --print_freq 50 --max_iters "$iters"
"$build/clgan-cyclegan" translate --model "$out/checkpoints/glyphs/latest_net_G_A.safetensors" \
    --input "$root/data/glyphs/testA" --output "$out/translated"
"$build/clgan-style" --content "$root/data/style/chelsea.png" \
    --style "$root/data/style/gravel.png" --output "$out/style/chelsea_gravel.png" \
    --image_size 128 --num_iterations 20 --init image --original_colors --print_iter 5 \
    --log "$out/style/loss_log.csv"

echo
echo "report:      $out/checkpoints/glyphs/web/index.html"
echo "translated:  $out/translated (testA in the style of testB)"
echo "styled:      $out/style/chelsea_gravel.png (chelsea.png in the texture of gravel.png)"
