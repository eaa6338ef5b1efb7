#!/usr/bin/env bash
# clgan-bench smoke run: the gemm suite at --small sizes writes a table and well-formed JSON.
set -euo pipefail
build=${CLGAN_BINARY_DIR:?}
out=$build/test-scratch/bench-smoke
rm -rf "$out"
mkdir -p "$out"
"$build/clgan-bench" gemm --small --repeat 1 --warmup 1 --json "$out/out.json" >"$out/table.txt"
grep -q "^== gemm on " "$out/table.txt" || { cat "$out/table.txt"; exit 1; }
grep -q "^square 512 NN " "$out/table.txt" || { cat "$out/table.txt"; exit 1; }
count=$(grep -c '"suite":' "$out/out.json")
[ "$count" -gt 70 ] || { echo "only $count measurements in the JSON"; exit 1; }
for key in name shapes params device platform driver median_ms min_ms max_ms gflops gbs \
    peak_mem_bytes; do
    n=$(grep -c "\"$key\":" "$out/out.json")
    [ "$n" -eq "$count" ] || { echo "key $key in $n of $count objects"; exit 1; }
done
! ls "$out" | grep -q "\.tmp\." || { echo "temporary file left behind"; exit 1; }
echo "clgan-bench wrote $count measurements"
