#!/usr/bin/env bash
# Installs clgan into a scratch prefix and builds a program outside the tree against it,
# once through find_package(clgan) and once through pkg-config.
set -euo pipefail
build=${CLGAN_BINARY_DIR:?}
work=$build/test-scratch/install
rm -rf "$work" && mkdir -p "$work/app"
cmake --install "$build" --prefix "$work/prefix" >/dev/null

cat >"$work/app/main.c" <<'C'
#include <clgan.h>
#include <stdio.h>
int main(void) {
    clg_device *dev;
    clg_tensor *t;
    float v[2];
    if (clg_device_open(NULL, &dev) != CLG_OK || clg_tensor_create4(dev, 1, 1, 1, 2, &t) != CLG_OK ||
        clg_tensor_fill(t, 4.0f) != CLG_OK || clg_tensor_download(t, v, 2) != CLG_OK) {
        fprintf(stderr, "%s\n", clg_last_error());
        return 1;
    }
    printf("ok %g %s\n", v[1], clg_status_name(CLG_ERR_IO));
    clg_tensor_release(t);
    clg_device_release(dev);
    return v[1] == 4.0f ? 0 : 1;
}
C
cat >"$work/app/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(app C)
find_package(clgan REQUIRED)
add_executable(app main.c)
target_link_libraries(app PRIVATE clgan::clgan)
add_executable(app_static main.c)
target_link_libraries(app_static PRIVATE clgan::clgan_static)
CMAKE
cmake -S "$work/app" -B "$work/app/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/app/build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/app/build/app" | grep -q "ok 4 CLG_ERR_IO"
"$work/app/build/app_static" | grep -q "ok 4 CLG_ERR_IO"

export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -o "$work/app/app_pc" "$work/app/main.c" $(pkg-config --cflags --libs clgan)
LD_LIBRARY_PATH="$work/prefix/lib" "$work/app/app_pc" | grep -q "ok 4 CLG_ERR_IO"
echo "install test passed"
