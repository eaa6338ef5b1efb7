/* clgan-bench-mae: mean absolute error (pixels in 0..1) between same-named images of folders. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clgan.h"

static const char *base(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Mean |a - b| over every pixel; both images must have the same size. */
static int image_mae(const char *pa, const char *pb, double *sum, size_t *count) {
    clg_image a = {0}, b = {0};
    int ok = clg_image_load(pa, 1, &a) == CLG_OK && clg_image_load(pb, 1, &b) == CLG_OK &&
             a.width == b.width && a.height == b.height;
    for (size_t i = 0; ok && i < (size_t)a.width * a.height; i++)
        *sum += fabs(a.data[i] - b.data[i]);
    if (ok)
        *count += (size_t)a.width * a.height;
    else
        fprintf(stderr, "clgan-bench-mae: %s vs %s: %s\n", pa, pb, clg_last_error());
    clg_image_release(&a);
    clg_image_release(&b);
    return ok;
}

int main(int argc, char **argv) {
    clg_path_list got = {0};
    char want[4096];
    double sum = 0.0;
    size_t pixels = 0, images = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: clgan-bench-mae RESULTS_FOLDER REFERENCE_FOLDER\n"
                        "Pairs images by file name (results saved as .png) and prints the mean\n"
                        "absolute error of pixels in 0..1, as grayscale.\n");
        return 2;
    }
    if (clg_dataset_list_images(argv[1], &got) != CLG_OK) {
        fprintf(stderr, "clgan-bench-mae: %s\n", clg_last_error());
        return 1;
    }
    for (size_t i = 0; i < got.count; i++) {
        snprintf(want, sizeof want, "%s/%s", argv[2], base(got.paths[i]));
        if (!image_mae(got.paths[i], want, &sum, &pixels)) return 1;
        images++;
    }
    clg_path_list_release(&got);
    printf("%zu images, mean absolute error %.4f\n", images, pixels ? sum / pixels : 0.0);
    return 0;
}
