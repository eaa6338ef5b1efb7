/* Golden-case runner contract: case accessors (tests/test_ops_golden.c) and per-op handlers. */
#ifndef CLGAN_TEST_GOLDEN_OPS_H
#define CLGAN_TEST_GOLDEN_OPS_H

#include <stddef.h>

#include "clgan.h"

/*
 * One golden case: the tensors "<case>.<name>" of a PyTorch-made
 * .safetensors file plus the case's metadata JSON (its "op" key picks the
 * handler). The runner owns the case; handlers only read it.
 */
typedef struct golden_case golden_case;

/* The case's name, for messages. */
const char *golden_name(const golden_case *c);

/* A metadata parameter as text, or NULL when the case has none by that key. */
const char *golden_param(const golden_case *c, const char *key);
int golden_param_int(const golden_case *c, const char *key, int def);
double golden_param_double(const golden_case *c, const char *key, double def);

/* "<case>.<name>" uploaded to the test device, or NULL if absent; the runner releases it. */
clg_tensor *golden_tensor(const golden_case *c, const char *name);

/* "<case>.<name>" as host floats (owned by the runner), or NULL if absent. */
const float *golden_host(const golden_case *c, const char *name, size_t *numel);

/* Download got and compare with "<case>.<name>" (1e-4 relative, small floor); fails the test. */
void golden_expect(const golden_case *c, const char *name, const clg_tensor *got);

typedef void (*golden_handler)(const golden_case *c);

/* tests/golden_conv.c */
void golden_conv2d(const golden_case *c);
void golden_conv_transpose2d(const golden_case *c);
void golden_pad2d(const golden_case *c);

/* tests/golden_misc.c */
void golden_instance_norm(const golden_case *c);
void golden_batch_norm(const golden_case *c);
void golden_activation(const golden_case *c);
void golden_eltwise(const golden_case *c);
void golden_reduce(const golden_case *c);
void golden_loss(const golden_case *c);
void golden_gram(const golden_case *c);
void golden_pool(const golden_case *c);
void golden_adam(const golden_case *c);

#endif
