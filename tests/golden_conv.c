/* Golden handlers for conv2d, conv_transpose2d and the padding ops (reflection and zeros). */
#include "golden_ops.h"
#include "ops/conv_internal.h"
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The golden tensor name, failing the test when the case lacks it. */
static clg_tensor *need(const golden_case *c, const char *name) {
    clg_tensor *t = golden_tensor(c, name);
    if (!t) fail_msg("%s: no tensor %s", golden_name(c), name);
    return t;
}

/* A new tensor of ref's shape holding NaN, so that any element left unwritten shows. */
static clg_tensor *nan_like(const clg_tensor *ref) {
    clg_tensor *t = NULL;
    if (!ref) return NULL;
    CHECK(clg_tensor_create_like(ref, &t));
    CHECK(clg_tensor_fill(t, NAN));
    return t;
}

static clg_tensor *nan_shaped(const int shape[4]) {
    clg_tensor *t = NULL;
    CHECK(clg_tensor_create(test_device(), 4, shape, &t));
    CHECK(clg_tensor_fill(t, NAN));
    return t;
}

static void release4(clg_tensor *a, clg_tensor *b, clg_tensor *c, clg_tensor *d) {
    clg_tensor_release(a);
    clg_tensor_release(b);
    clg_tensor_release(c);
    clg_tensor_release(d);
}

void golden_conv2d(const golden_case *c) {
    const char *mode = golden_param(c, "padding_mode");
    clg_conv2d_params p = {golden_param_int(c, "stride", 1), golden_param_int(c, "padding", 0),
                           mode && !strcmp(mode, "reflect") ? CLG_PAD_REFLECT : CLG_PAD_ZEROS};
    clg_tensor *x = need(c, "x"), *w = need(c, "weight"), *b = golden_tensor(c, "bias");
    int shape[4];

    CHECK(clg_conv2d_output_shape(x, w, &p, shape));
    clg_tensor *y = nan_shaped(shape), *dx = nan_like(x), *dw = nan_like(w), *db = nan_like(b);

    CHECK(clg_conv2d_forward(x, w, b, &p, y));
    golden_expect(c, "y", y);
    CHECK(clg_conv2d_backward(x, w, need(c, "dy"), &p, dx, dw, db, 0));
    golden_expect(c, "dx", dx);
    golden_expect(c, "dweight", dw);
    if (b) golden_expect(c, "dbias", db);
    release4(y, dx, dw, db);
}

void golden_conv_transpose2d(const golden_case *c) {
    clg_conv_transpose2d_params p = {golden_param_int(c, "stride", 1),
                                     golden_param_int(c, "padding", 0),
                                     golden_param_int(c, "output_padding", 0)};
    clg_tensor *x = need(c, "x"), *w = need(c, "weight"), *b = golden_tensor(c, "bias");
    int shape[4];

    CHECK(clg_conv_transpose2d_output_shape(x, w, &p, shape));
    clg_tensor *y = nan_shaped(shape), *dx = nan_like(x), *dw = nan_like(w), *db = nan_like(b);

    CHECK(clg_conv_transpose2d_forward(x, w, b, &p, y));
    golden_expect(c, "y", y);
    CHECK(clg_conv_transpose2d_backward(x, w, need(c, "dy"), &p, dx, dw, db, 0));
    golden_expect(c, "dx", dx);
    golden_expect(c, "dweight", dw);
    if (b) golden_expect(c, "dbias", db);
    release4(y, dx, dw, db);
}

/* "pad": [left, right, top, bottom] as JSON text. */
static void parse_pad(const golden_case *c, int pad[4]) {
    const char *text = golden_param(c, "pad");
    char *end;

    if (!text) fail_msg("%s: no pad parameter", golden_name(c));
    for (int i = 0; i < 4; i++) {
        while (*text && (*text < '0' || *text > '9') && *text != '-') text++;
        pad[i] = (int)strtol(text, &end, 10);
        if (end == text) fail_msg("%s: cannot read pad %s", golden_name(c), golden_param(c, "pad"));
        text = end;
    }
}

/* Uneven pads go through the library's four-sided internal call; the public one pads alike. */
void golden_pad2d(const golden_case *c) {
    const char *op = golden_param(c, "op");
    clg_pad_mode mode = !strcmp(op, "reflection_pad2d") ? CLG_PAD_REFLECT : CLG_PAD_ZEROS;
    clg_tensor *x = need(c, "x"), *dy = need(c, "dy");
    clg_tensor *y = nan_like(dy), *dx = nan_like(x);
    int pad[4];

    parse_pad(c, pad);
    if (pad[0] == pad[1] && pad[1] == pad[2] && pad[2] == pad[3]) {
        CHECK(clg_pad2d_forward(x, pad[0], mode, y));
        CHECK(clg_pad2d_backward(dy, pad[0], mode, dx, 0));
    } else {
        CHECK(clgi_pad2d_forward(x, pad, mode, y));
        CHECK(clgi_pad2d_backward(dy, pad, mode, dx, 0));
    }
    golden_expect(c, "y", y);
    golden_expect(c, "dx", dx);
    release4(y, dx, NULL, NULL);
}
