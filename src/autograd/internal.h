/* Autograd internals shared by the tape engine and the recorded operations. */
#ifndef CLGAN_AUTOGRAD_INTERNAL_H
#define CLGAN_AUTOGRAD_INTERNAL_H

#include "clgan/autograd.h"

#define CLGI_AG_MAX_INPUTS 3
#define CLGI_AG_MAX_SAVED  2

struct clg_var {
    clg_tensor *value;
    clg_tensor *grad; /* allocated on first use, kept across zeroing */
    int has_grad;     /* grad holds a gradient (else its contents are stale) */
    int requires_grad;
    int is_leaf;
    int refs;
};

typedef struct clgi_node clgi_node;
typedef clg_status (*clgi_backward_fn)(clgi_node *node);

/* What a backward needs besides tensors: the forward's settings. */
typedef union clgi_node_args {
    clg_conv2d_params conv;
    clg_conv_transpose2d_params convt;
    struct {
        int pad;
        clg_pad_mode mode;
    } pad;
    struct {
        clg_activation act;
        float slope;
    } act;
    int training;
    float value; /* a scale factor or a constant loss target */
} clgi_node_args;

struct clgi_node {
    clgi_backward_fn backward;
    clg_var *in[CLGI_AG_MAX_INPUTS]; /* NULL for an absent optional input */
    int n_in;
    clg_var *out;
    clg_tensor *saved[CLGI_AG_MAX_SAVED];
    clgi_node_args args;
};

/*
 * Wrap a forward result y in a new variable for *out and, when tape is set and
 * any of in[0..n_in) requires a gradient, record a node that holds the inputs,
 * the output and saved[0..n_saved). Takes ownership of y and of the saved
 * tensors whatever happens.
 */
clg_status clgi_ag_finish(clg_tape *tape, clg_tensor *y, clgi_backward_fn backward,
                          clg_var *const *in, int n_in, clg_tensor *const *saved, int n_saved,
                          const clgi_node_args *args, clg_var **out);

/*
 * The gradient tensor to write for v, or NULL when v needs none; *acc says
 * whether to add (1) or overwrite (0). Call once per write.
 */
clg_status clgi_ag_grad_slot(clg_var *v, clg_tensor **grad, int *acc);

/*
 * Slots for several inputs written by one backward call with a single
 * accumulate flag: fresh gradients are zeroed when others accumulate.
 */
clg_status clgi_ag_grad_slots(clg_var *const *vars, int n, clg_tensor **grads, int *acc);

/* grad (+)= value everywhere, per acc. */
clg_status clgi_ag_fill_grad(clg_tensor *grad, float value, int acc);

/* grad (+)= src, per acc. */
clg_status clgi_ag_copy_grad(clg_tensor *grad, const clg_tensor *src, float alpha, int acc);

#endif
