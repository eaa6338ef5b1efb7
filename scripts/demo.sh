#!/usr/bin/env bash
# The main job on the bundled data: list the devices, then multiply two matrices on the default one.
set -euo pipefail
build=$1
"$build/clgan-devices"
"$build/clgan-gemm" --size 512
