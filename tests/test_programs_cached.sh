#!/usr/bin/env bash
# clgan-devices run twice on a fresh cache: the second process builds no program.
set -euo pipefail
build=${CLGAN_BINARY_DIR:?}
export CLGAN_CACHE_DIR=$build/test-scratch/devices-cache
rm -rf "$CLGAN_CACHE_DIR"
first=$("$build/clgan-devices")
second=$("$build/clgan-devices")
echo "$first" | grep -q "^\* \[" || { echo "no default device marked"; exit 1; }
echo "$first" | grep -q "programs built: 1, loaded from cache: 0" || { echo "$first"; exit 1; }
echo "$second" | grep -q "programs built: 0, loaded from cache: 1" || { echo "$second"; exit 1; }
echo "second run built no program"
