#!/usr/bin/env bash
# clgan-cyclegan end to end on the glyphs: a short run, resuming, translating, and bad inputs.
set -uo pipefail

build=${CLGAN_BINARY_DIR:?CLGAN_BINARY_DIR is not set}
source=${CLGAN_SOURCE_DIR:?CLGAN_SOURCE_DIR is not set}
prog=$build/clgan-cyclegan
glyphs=$source/data/glyphs
scratch=$build/test-scratch/cli
ckpt=$scratch/checkpoints

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
check() { echo "check: $*"; }

[ -x "$prog" ] || fail "$prog is not built"
[ -d "$glyphs/trainA" ] || fail "no glyphs in $glyphs"
rm -rf "$scratch"
mkdir -p "$scratch" || fail "cannot make $scratch"

# The small glyph model every run here shares; extra options follow.
train() {
    "$prog" train --dataroot "$glyphs" --checkpoints_dir "$ckpt" --input_nc 1 --output_nc 1 \
        --load_size 32 --crop_size 32 --ngf 8 --ndf 8 --netG resnet_6blocks --print_freq 2 \
        --seed 3 "$@"
}

# ---- a. A short training run ----

check "a 6-iteration training run"
train --name run --max_iters 6 >"$scratch/run.out" 2>&1 ||
    fail "training exited with $?: $(cat "$scratch/run.out")"
run=$ckpt/run
header=$(head -n 1 "$run/loss_log.csv")
[ "$header" = "iter,epoch,D_A,G_A,cycle_A,idt_A,D_B,G_B,cycle_B,idt_B" ] ||
    fail "loss_log.csv header is '$header'"
rows=$(tail -n +2 "$run/loss_log.csv" | grep -c .)
[ "$rows" -eq 6 ] || fail "loss_log.csv has $rows rows, want 6"
for net in G_A G_B D_A D_B; do
    [ -s "$run/latest_net_$net.safetensors" ] || fail "no latest_net_$net.safetensors"
done
[ -s "$run/latest_train_state.safetensors" ] || fail "no latest_train_state.safetensors"
[ -s "$run/web/index.html" ] || fail "no web/index.html"
grep -q "<svg" "$run/web/index.html" || fail "web/index.html has no <svg>"
echo "  ok: header, 6 rows, 4 nets, train state, report with a plot"

# ---- b. Stopping and resuming gives the uninterrupted run's losses ----

check "3 iterations then --continue_train to 6 equals 6 in one go"
train --name u --max_iters 6 >"$scratch/u.out" 2>&1 || fail "run u: $(cat "$scratch/u.out")"
train --name r --max_iters 3 >"$scratch/r1.out" 2>&1 || fail "run r: $(cat "$scratch/r1.out")"
train --name r --max_iters 6 --continue_train >"$scratch/r2.out" 2>&1 ||
    fail "run r resumed: $(cat "$scratch/r2.out")"
rows=$(tail -n +2 "$ckpt/r/loss_log.csv" | grep -c .)
[ "$rows" -eq 6 ] || fail "resumed loss_log.csv has $rows rows, want 6"
if ! cmp -s "$ckpt/u/loss_log.csv" "$ckpt/r/loss_log.csv"; then
    # Not byte-identical: say so, then accept last-digit differences only.
    echo "  note: the logs differ in text; comparing with a relative tolerance of 1e-6"
    paste -d, "$ckpt/u/loss_log.csv" "$ckpt/r/loss_log.csv" | awk -F, '
        NR == 1 { next }
        { for (i = 1; i <= 10; i++) {
              a = $i + 0; b = $(i + 10) + 0; d = a - b; if (d < 0) d = -d
              m = a < 0 ? -a : a
              if (d > 1e-6 * m + 1e-12) {
                  printf "row %d column %d: %s vs %s\n", NR - 1, i, $i, $(i + 10)
                  bad = 1
              }
          } }
        END { exit bad }' || fail "resumed losses differ from the uninterrupted run"
fi
echo "  ok: rows 1..6 agree"

# ---- c. Translating an image of an odd size keeps its size ----

check "translate keeps a 53x37 image at 53x37"
ppm=$scratch/odd.ppm
{
    printf 'P6\n53 37\n255\n'
    yes 'clgan-glyph!' | head -c $((53 * 37 * 3))
} >"$ppm"
"$prog" translate --model "$run/latest_net_G_A.safetensors" --input "$ppm" \
    --output "$scratch/translated" >"$scratch/translate.out" 2>&1 ||
    fail "translate exited with $?: $(cat "$scratch/translate.out")"
png=$scratch/translated/odd.png
[ -s "$png" ] || fail "translate wrote no $png"
magic=$(od -An -tx1 -N8 "$png" | tr -d ' \n')
[ "$magic" = "89504e470d0a1a0a" ] || fail "$png is not a PNG"
read -r w3 w2 w1 w0 h3 h2 h1 h0 < <(od -An -tu1 -j16 -N8 "$png")
width=$(((w3 << 24) | (w2 << 16) | (w1 << 8) | w0))
height=$(((h3 << 24) | (h2 << 16) | (h1 << 8) | h0))
[ "$width" -eq 53 ] && [ "$height" -eq 37 ] || fail "translated image is ${width}x${height}"
echo "  ok: ${width}x${height}"

# ---- d. Bad inputs: an error naming the culprit and exit status 1 or 2, never a crash ----

# expect_error NAME TEXT COMMAND...: COMMAND fails with 1 or 2 and its stderr has TEXT.
expect_error() {
    local name=$1 text=$2
    shift 2
    check "$name"
    "$@" >"$scratch/err.out" 2>"$scratch/err.txt"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "$name: exited 0; stdout: $(cat "$scratch/err.out")"
    [ "$rc" -le 2 ] || fail "$name: exit status $rc (a crash?): $(cat "$scratch/err.txt")"
    grep -qF -- "$text" "$scratch/err.txt" ||
        fail "$name: the error does not name '$text': $(cat "$scratch/err.txt")"
    echo "  ok ($rc): $(head -n 1 "$scratch/err.txt")"
}

bad=$scratch/bad
expect_error "a missing dataroot" "$bad/missing/trainA" \
    train --name bad --max_iters 2 --dataroot "$bad/missing"

mkdir -p "$bad/empty/trainA" "$bad/empty/trainB"
cp "$glyphs"/trainB/*.png "$bad/empty/trainB/"
expect_error "an empty trainA" "$bad/empty/trainA" \
    train --name bad --max_iters 2 --dataroot "$bad/empty"

# x.png sorts before the good images (y*.png), so serial batches read it first.
mkdir -p "$bad/corrupt/trainA" "$bad/corrupt/trainB"
i=0
for f in $(ls "$glyphs/trainA" | head -n 3); do
    cp "$glyphs/trainA/$f" "$bad/corrupt/trainA/y$i.png"
    i=$((i + 1))
done
cp "$glyphs"/trainB/*.png "$bad/corrupt/trainB/"
echo "this is not a PNG" >"$bad/corrupt/trainA/x.png"
expect_error "a corrupt PNG" "x.png" \
    train --name bad --max_iters 2 --serial_batches --dataroot "$bad/corrupt"

expect_error "an image smaller than the crop" "smaller than the 64x64 crop" \
    train --name bad --max_iters 2 --dataroot "$glyphs" --preprocess crop --crop_size 64
grep -qE "train[AB]/u[0-9a-f]+\.png is 32x32" "$scratch/err.txt" ||
    fail "the crop error names no glyph file and size: $(cat "$scratch/err.txt")"

expect_error "an unknown option" "--no_such_option" \
    train --name bad --max_iters 2 --no_such_option 3
expect_error "a bad --netG" "resnet_7blocks" \
    train --name bad --max_iters 2 --netG resnet_7blocks

echo "all clgan-cyclegan checks passed"
