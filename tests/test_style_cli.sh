#!/usr/bin/env bash
# clgan-style end to end: --help, short L-BFGS and Adam runs with the tiny VGG, random filters.
set -uo pipefail

build=${CLGAN_BINARY_DIR:?CLGAN_BINARY_DIR is not set}
source=${CLGAN_SOURCE_DIR:?CLGAN_SOURCE_DIR is not set}
prog=$build/clgan-style
data=$source/data/style
scratch=$build/test-scratch/style-cli

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
check() { echo "check: $*"; }

# Width and height of a PNG, from its IHDR chunk.
png_size() {
    od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d", $3 * 256 + $4, $7 * 256 + $8 }'
}

[ -x "$prog" ] || fail "$prog is not built"
[ -f "$data/chelsea.png" ] || fail "no chelsea.png in $data"
rm -rf "$scratch"
mkdir -p "$scratch" || fail "cannot make $scratch"
vgg=$scratch/vgg19_tiny.safetensors
"$build/tests/test_style" --write-vgg "$vgg" || fail "cannot write the tiny VGG"

# The tiny VGG (widths / 16) on the bundled photo at 32 pixels; extra options follow.
style() {
    "$prog" --content "$data/chelsea.png" --style "$data/brick.png" --vgg "$vgg" \
        --image_size 32 --print_iter 1 "$@"
}

# ---- a. --help names every option with its default ----

check "--help lists every option with a default"
"$prog" --help >"$scratch/help.out" || fail "--help exited with $?"
for opt in content style style_blend_weights output image_size style_scale content_weight \
    style_weight tv_weight num_iterations optimizer learning_rate init init_image seed \
    original_colors pooling content_layers style_layers print_iter save_iter vgg device log; do
    grep -q -- "--$opt " "$scratch/help.out" || fail "--help does not list --$opt"
done
grep -q "(default: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)" "$scratch/help.out" ||
    fail "--help does not give the style layers' default"
grep -q "longest side.*(default: 512)" "$scratch/help.out" ||
    fail "--help does not give image_size's default"
echo "  ok"

# ---- b. L-BFGS: the log, the result's size, a lower loss ----

check "an L-BFGS run of 5 iterations with a gray style of another size"
style --num_iterations 5 --output "$scratch/lbfgs.png" --log "$scratch/lbfgs.csv" \
    --init image >"$scratch/lbfgs.out" 2>&1 || fail "L-BFGS run: $(cat "$scratch/lbfgs.out")"
header=$(head -n 1 "$scratch/lbfgs.csv")
[ "$header" = "iteration,content,style,tv,total" ] || fail "log header is '$header'"
first=$(sed -n 2p "$scratch/lbfgs.csv")
[ "${first%%,*}" = 0 ] || fail "the log's first row is '$first', not iteration 0"
rows=$(tail -n +2 "$scratch/lbfgs.csv" | grep -c .)
[ "$rows" -ge 2 ] || fail "the log has $rows rows"
awk -F, 'NR == 2 { t0 = $5 } END { exit !($5 < t0) }' "$scratch/lbfgs.csv" ||
    fail "the total loss did not go down: $(cat "$scratch/lbfgs.csv")"
size=$(png_size "$scratch/lbfgs.png")
[ "$size" = 32x21 ] || fail "the result is $size, want 32x21 (451x300 scaled to 32)"
grep -q "result: $scratch/lbfgs.png" "$scratch/lbfgs.out" || fail "no 'result:' line"
echo "  ok: $rows rows from iteration 0, loss down, 32x21"

# ---- c. Adam with intermediate saves, original colours, two blended styles ----

check "Adam, --save_iter, --original_colors, two styles blended"
style --num_iterations 4 --optimizer adam --learning_rate 0.01 --save_iter 2 \
    --original_colors --style "$data/brick.png,$data/chelsea.png" --style_blend_weights 2,1 \
    --pooling avg --seed 5 --output "$scratch/adam.png" >"$scratch/adam.out" 2>&1 ||
    fail "Adam run: $(cat "$scratch/adam.out")"
for f in adam_2.png adam_4.png adam.png; do
    [ -s "$scratch/$f" ] || fail "no $f"
done
grep -q "iteration 4/4" "$scratch/adam.out" || fail "no line for iteration 4"
echo "  ok"

# ---- d. Random filters without --vgg, said plainly ----

check "without --vgg: random filters, said plainly, and it runs"
"$prog" --content "$data/chelsea.png" --style "$data/gravel.png" --image_size 24 \
    --style_layers relu1_1,relu2_1 --content_layers relu2_1 --num_iterations 1 \
    --output "$scratch/random.png" >"$scratch/random.out" 2>&1 ||
    fail "random-filter run: $(cat "$scratch/random.out")"
grep -q "random VGG-19 filters" "$scratch/random.out" || fail "no notice about random filters"
tr '\n' ' ' <"$scratch/random.out" | grep -q "no substitute" ||
    fail "the notice does not say they are no substitute"
[ -s "$scratch/random.png" ] || fail "no result"
echo "  ok"

# ---- e. Mistakes are refused with a reason ----

check "usage errors exit 2, bad inputs exit 1, each with a reason"
expect_status() {
    local want=$1
    shift
    "$@" >"$scratch/err.out" 2>&1
    local got=$?
    [ "$got" = "$want" ] || fail "'$*' exited with $got, want $want: $(cat "$scratch/err.out")"
    grep -q . "$scratch/err.out" || fail "'$*' said nothing"
}
expect_status 2 "$prog" --style "$data/brick.png"
expect_status 2 "$prog" --content "$data/chelsea.png" --style "$data/brick.png" --bogus 1
expect_status 2 "$prog" --content a --style b --optimizer sgd
expect_status 2 "$prog" --content a --style b --tv_weight nan
expect_status 1 style --content "$scratch/missing.png" --num_iterations 1
expect_status 1 style --style_layers relu1_1,relu9_1 --num_iterations 1
expect_status 1 style --style_blend_weights 1,2 --num_iterations 1
grep -q "one number per style image" "$scratch/err.out" ||
    fail "blend error: $(cat "$scratch/err.out")"
echo "  ok"

echo "PASS"
