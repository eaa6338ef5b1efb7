#!/usr/bin/env bash
# One command from a clean clone: install what is missing, build, then run the demo or the tests.
#   bash scripts/run.sh demo    the main job on the bundled sample data
#   bash scripts/run.sh test    the whole test suite
set -euo pipefail

task=${1:-demo}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CLGAN_BUILD_DIR:-$root/build}

packages=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd
          clinfo libclblast-dev libstb-dev libcmocka-dev libcjson-dev liblbfgs-dev)

install_missing() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    echo "Installing from Debian's packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
}

build_all() {
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j"$(nproc)"
}

install_missing
build_all
case "$task" in
demo) bash "$root/scripts/demo.sh" "$build" ;;
test) cd "$build" && ctest --output-on-failure --timeout 900 ;;
*) echo "usage: bash scripts/run.sh demo|test" >&2; exit 2 ;;
esac
