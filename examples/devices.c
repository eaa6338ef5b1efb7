/* clgan-devices: every OpenCL device with its capabilities, the default marked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgan.h"

#define MAX_LISTED 64

static void usage(FILE *out) {
    fprintf(out, "usage: clgan-devices [--device SELECTOR] [--verbose]\n"
                 "\n"
                 "Lists every OpenCL device, marks the one clgan would use (the --device\n"
                 "selector, else CLGAN_DEVICE, else the first GPU, else the first device),\n"
                 "opens it, builds a kernel program and reports the program cache.\n");
}

int main(int argc, char **argv) {
    clg_device_info infos[MAX_LISTED];
    const char *selector = NULL;
    int count = 0, chosen = 0, built = 0, loaded = 0;
    clg_device *dev = NULL;
    clg_tensor *probe = NULL;
    char text[4096];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) selector = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0) clg_log_set_callback(clg_log_stderr, NULL);
        else {
            usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (clg_device_list(infos, MAX_LISTED, &count) != CLG_OK ||
        clg_device_select(selector, &chosen) != CLG_OK) {
        fprintf(stderr, "clgan-devices: %s\n", clg_last_error());
        return 1;
    }
    for (int i = 0; i < count && i < MAX_LISTED; i++) {
        clg_device_describe(&infos[i], text, sizeof text);
        printf("%s[%d] %s\n\n", i == chosen ? "* " : "  ", i, text);
    }

    /* Open the default device and run one kernel, so the cache counters mean something. */
    if (clg_device_open(selector, &dev) != CLG_OK ||
        clg_tensor_zeros(dev, 1, (const int[]){16}, &probe) != CLG_OK ||
        clg_device_finish(dev) != CLG_OK) {
        fprintf(stderr, "clgan-devices: %s\n", clg_last_error());
        clg_device_release(dev);
        return 1;
    }
    clg_device_cache_stats(dev, &built, &loaded);
    printf("default device: [%d] %s\n", chosen, infos[chosen].name);
    printf("program cache: %s\n", clg_device_cache_dir(dev)[0] ? clg_device_cache_dir(dev)
                                                                : "off (CLGAN_CACHE=0)");
    printf("programs built: %d, loaded from cache: %d\n", built, loaded);
    clg_tensor_release(probe);
    clg_device_release(dev);
    return 0;
}
