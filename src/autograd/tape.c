/* Autograd engine: variables, the tape of recorded nodes, and the reverse pass. */
#include "autograd/internal.h"

#include <stdlib.h>
#include <string.h>

struct clg_tape {
    clgi_node *nodes;
    int count;
    int capacity;
};

/* ---- Variables ---- */

static clg_status var_new(clg_tensor *value, int requires_grad, int is_leaf, clg_var **out) {
    clg_var *v = calloc(1, sizeof *v);

    if (!v) {
        clg_tensor_release(value);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for a variable");
    }
    v->value = value;
    v->requires_grad = requires_grad != 0;
    v->is_leaf = is_leaf;
    v->refs = 1;
    *out = v;
    return CLG_OK;
}

clg_status clg_var_create(clg_tensor *value, int requires_grad, clg_var **out) {
    if (!value || !out) return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_var_create: NULL argument");
    return var_new(value, requires_grad, 1, out);
}

clg_status clg_var_from_host(clg_device *device, int ndim, const int *shape, const float *data,
                             int requires_grad, clg_var **out) {
    clg_tensor *t = NULL;
    clg_status s = clg_tensor_from_host(device, ndim, shape, data, &t);

    if (s != CLG_OK) return s;
    return var_new(t, requires_grad, 1, out);
}

clg_var *clg_var_retain(clg_var *v) {
    if (v) v->refs++;
    return v;
}

void clg_var_release(clg_var *v) {
    if (!v || --v->refs > 0) return;
    clg_tensor_release(v->value);
    clg_tensor_release(v->grad);
    free(v);
}

clg_tensor *clg_var_value(const clg_var *v) {
    return v->value;
}

clg_tensor *clg_var_grad(const clg_var *v) {
    return v->has_grad ? v->grad : NULL;
}

int clg_var_requires_grad(const clg_var *v) {
    return v->requires_grad;
}

clg_status clg_var_set_requires_grad(clg_var *v, int requires_grad) {
    if (!v->is_leaf)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "requires_grad can only be changed on a leaf variable; detach a result "
                         "first");
    v->requires_grad = requires_grad != 0;
    return CLG_OK;
}

void clg_var_zero_grad(clg_var *v) {
    v->has_grad = 0;
}

clg_status clg_var_detach(clg_var *v, clg_var **out) {
    clg_tensor *view = NULL;
    clg_status s =
        clg_tensor_reshape(v->value, clg_tensor_ndim(v->value), clg_tensor_shape(v->value), &view);

    if (s != CLG_OK) return s;
    return var_new(view, 0, 1, out);
}

/* ---- Gradient slots ---- */

clg_status clgi_ag_grad_slot(clg_var *v, clg_tensor **grad, int *acc) {
    *grad = NULL;
    *acc = 0;
    if (!v || !v->requires_grad) return CLG_OK;
    if (!v->grad) {
        clg_status s = clg_tensor_create_like(v->value, &v->grad);
        if (s != CLG_OK) return s;
    }
    *acc = v->has_grad;
    v->has_grad = 1;
    *grad = v->grad;
    return CLG_OK;
}

clg_status clgi_ag_grad_slots(clg_var *const *vars, int n, clg_tensor **grads, int *acc) {
    int fresh[CLGI_AG_MAX_INPUTS] = {0}, any_acc = 0;

    for (int i = 0; i < n; i++) {
        int a;
        clg_status s = clgi_ag_grad_slot(vars[i], &grads[i], &a);
        if (s != CLG_OK) return s;
        fresh[i] = grads[i] && !a;
        any_acc |= grads[i] && a;
    }

    /* One flag serves every output of the call: zero the fresh ones when others add. */
    *acc = any_acc;
    for (int i = 0; i < n && any_acc; i++) {
        if (!fresh[i]) continue;
        clg_status s = clg_tensor_fill(grads[i], 0.0f);
        if (s != CLG_OK) return s;
    }
    return CLG_OK;
}

clg_status clgi_ag_fill_grad(clg_tensor *grad, float value, int acc) {
    clg_tensor *tmp = NULL;
    clg_status s;

    if (!acc) return clg_tensor_fill(grad, value);
    s = clg_tensor_create_like(grad, &tmp);
    if (s == CLG_OK) s = clg_tensor_fill(tmp, value);
    if (s == CLG_OK) s = clg_axpy(1.0f, tmp, grad);
    clg_tensor_release(tmp);
    return s;
}

clg_status clgi_ag_copy_grad(clg_tensor *grad, const clg_tensor *src, float alpha, int acc) {
    if (acc) return clg_axpy(alpha, src, grad);
    if (alpha == 1.0f) return clg_tensor_copy(grad, src);
    return clg_scale(src, alpha, grad);
}

/* ---- The tape ---- */

clg_status clg_tape_create(clg_tape **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for a tape");
    return CLG_OK;
}

/* Forget a node: its output's gradient goes (no one else reads it) and so do its references. */
static void node_drop(clgi_node *node) {
    clg_var *out = node->out;

    if (!out->is_leaf) {
        clg_tensor_release(out->grad);
        out->grad = NULL;
        out->has_grad = 0;
        out->requires_grad = 0; /* its history is gone: it acts as a detached value now */
    }
    clg_var_release(out);
    for (int i = 0; i < node->n_in; i++) clg_var_release(node->in[i]);
    for (int i = 0; i < CLGI_AG_MAX_SAVED; i++) clg_tensor_release(node->saved[i]);
    memset(node, 0, sizeof *node);
}

void clg_tape_reset(clg_tape *tape) {
    if (!tape) return;
    for (int i = tape->count - 1; i >= 0; i--) node_drop(&tape->nodes[i]);
    tape->count = 0;
}

void clg_tape_release(clg_tape *tape) {
    if (!tape) return;
    clg_tape_reset(tape);
    free(tape->nodes);
    free(tape);
}

int clg_tape_node_count(const clg_tape *tape) {
    return tape ? tape->count : 0;
}

static clg_status tape_push(clg_tape *tape, clgi_node **node) {
    if (tape->count == tape->capacity) {
        int capacity = tape->capacity ? tape->capacity * 2 : 64;
        clgi_node *grown = realloc(tape->nodes, (size_t)capacity * sizeof *grown);
        if (!grown) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for a tape");
        tape->nodes = grown;
        tape->capacity = capacity;
    }
    *node = &tape->nodes[tape->count++];
    memset(*node, 0, sizeof **node);
    return CLG_OK;
}

static int any_requires_grad(clg_var *const *in, int n_in) {
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad) return 1;
    return 0;
}

clg_status clgi_ag_finish(clg_tape *tape, clg_tensor *y, clgi_backward_fn backward,
                          clg_var *const *in, int n_in, clg_tensor *const *saved, int n_saved,
                          const clgi_node_args *args, clg_var **out) {
    int record = tape && any_requires_grad(in, n_in);
    clgi_node *node = NULL;
    clg_status s;

    *out = NULL;
    s = var_new(y, record, !record, out);

    if (s == CLG_OK && record) s = tape_push(tape, &node);
    if (s != CLG_OK || !record) {
        for (int i = 0; i < n_saved; i++) clg_tensor_release(saved[i]);
        if (s != CLG_OK && *out) {
            clg_var_release(*out);
            *out = NULL;
        }
        return s;
    }

    node->backward = backward;
    node->n_in = n_in;
    for (int i = 0; i < n_in; i++) node->in[i] = clg_var_retain(in[i]);
    node->out = clg_var_retain(*out);
    for (int i = 0; i < n_saved; i++) node->saved[i] = saved[i];
    if (args) node->args = *args;
    return CLG_OK;
}

/* ---- The reverse pass ---- */

static clg_status seed_loss(clg_var *loss, float scale) {
    clg_tensor *grad;
    int acc;
    clg_status s;

    if (clg_tensor_numel(loss->value) != 1)
        return clg_error(CLG_ERR_SHAPE, "backward needs a one-element loss, got %zu elements",
                         clg_tensor_numel(loss->value));
    if (!loss->requires_grad)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "backward from a loss that does not require a gradient (nothing that "
                         "requires one was recorded on the tape)");
    s = clgi_ag_grad_slot(loss, &grad, &acc);
    if (s != CLG_OK) return s;
    return clgi_ag_fill_grad(grad, scale, acc);
}

clg_status clg_tape_backward_many(clg_tape *tape, int count, clg_var *const *losses,
                                  const float *scales) {
    clg_status s = CLG_OK;
    int i;

    if (!tape) return clg_error(CLG_ERR_INVALID_ARGUMENT, "backward without a tape");
    for (i = 0; i < count && s == CLG_OK; i++) s = seed_loss(losses[i], scales[i]);

    /* Reverse order of recording is a topological order; a failure drops the rest. */
    for (i = tape->count - 1; i >= 0 && s == CLG_OK; i--) {
        clgi_node *node = &tape->nodes[i];
        if (node->out->has_grad) s = node->backward(node);
        node_drop(node);
    }
    tape->count = i + 1;
    clg_tape_reset(tape);
    return s;
}

clg_status clg_tape_backward(clg_tape *tape, clg_var *loss, float scale) {
    return clg_tape_backward_many(tape, 1, &loss, &scale);
}
