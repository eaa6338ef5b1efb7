/* Adam over the parameters of modules, with state that saves and loads for resuming. */
#include "clgan/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct adam_slot {
    char name[200]; /* "<module index>.<parameter name>" */
    clg_var *param;
    clg_tensor *exp_avg;
    clg_tensor *exp_avg_sq;
    int step;
} adam_slot;

struct clg_adam {
    clg_adam_params params;
    adam_slot *slots;
    int count;
};

static clg_status add_slot(clg_adam *adam, int module_index, const char *name, clg_var *param) {
    adam_slot *slot = &adam->slots[adam->count];
    clg_tensor *value = clg_var_value(param);
    clg_status s;

    memset(slot, 0, sizeof *slot);
    snprintf(slot->name, sizeof slot->name, "%d.%s", module_index, name);
    slot->param = param;
    s = clg_tensor_zeros(clg_tensor_device(value), clg_tensor_ndim(value), clg_tensor_shape(value),
                         &slot->exp_avg);
    if (s == CLG_OK)
        s = clg_tensor_zeros(clg_tensor_device(value), clg_tensor_ndim(value),
                             clg_tensor_shape(value), &slot->exp_avg_sq);
    adam->count++; /* counted even on failure, so release frees what was made */
    return s;
}

clg_status clg_adam_create(int module_count, clg_module *const *modules,
                           const clg_adam_params *params, clg_adam **out) {
    clg_adam *adam = calloc(1, sizeof *adam);
    int total = 0;
    clg_status s = CLG_OK;

    for (int m = 0; m < module_count; m++) total += clg_module_param_count(modules[m]);
    if (adam) adam->slots = calloc((size_t)(total ? total : 1), sizeof *adam->slots);
    if (!adam || !adam->slots) {
        free(adam);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    adam->params = *params;
    for (int m = 0; s == CLG_OK && m < module_count; m++) {
        for (int i = 0; s == CLG_OK && i < clg_module_param_count(modules[m]); i++) {
            const char *name;
            clg_var *var;
            s = clg_module_param_at(modules[m], i, &name, &var);
            if (s == CLG_OK) s = add_slot(adam, m, name, var);
        }
    }
    if (s != CLG_OK) {
        clg_adam_release(adam);
        return s;
    }
    *out = adam;
    return CLG_OK;
}

void clg_adam_release(clg_adam *adam) {
    if (!adam) return;
    for (int i = 0; i < adam->count; i++) {
        clg_tensor_release(adam->slots[i].exp_avg);
        clg_tensor_release(adam->slots[i].exp_avg_sq);
    }
    free(adam->slots);
    free(adam);
}

void clg_adam_set_lr(clg_adam *adam, float lr) {
    adam->params.lr = lr;
}

void clg_adam_zero_grad(clg_adam *adam) {
    for (int i = 0; i < adam->count; i++) clg_var_zero_grad(adam->slots[i].param);
}

clg_status clg_adam_update(clg_adam *adam) {
    for (int i = 0; i < adam->count; i++) {
        adam_slot *slot = &adam->slots[i];
        clg_tensor *grad = clg_var_grad(slot->param);
        clg_status s;

        if (!grad) continue; /* as PyTorch: a parameter without a gradient is not stepped */
        slot->step++;
        s = clg_adam_step(&adam->params, slot->step, clg_var_value(slot->param), grad,
                          slot->exp_avg, slot->exp_avg_sq);
        if (s != CLG_OK) return s;
    }
    return CLG_OK;
}

static clg_status add_tensor(clg_safetensors *st, const char *name, const clg_tensor *t) {
    size_t n = clg_tensor_numel(t);
    float *host = malloc(n * sizeof *host);
    int64_t shape[CLG_MAX_DIMS];
    clg_status s;

    if (!host) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int d = 0; d < clg_tensor_ndim(t); d++) shape[d] = clg_tensor_dim(t, d);
    s = clg_tensor_download(t, host, n);
    if (s == CLG_OK) s = clg_safetensors_add(st, name, clg_tensor_ndim(t), shape, host);
    free(host);
    return s;
}

clg_status clg_adam_save(const clg_adam *adam, const char *prefix, clg_safetensors *st) {
    char name[300], step[32];
    clg_status s = CLG_OK;

    for (int i = 0; s == CLG_OK && i < adam->count; i++) {
        const adam_slot *slot = &adam->slots[i];
        snprintf(name, sizeof name, "%s.%s.exp_avg", prefix, slot->name);
        s = add_tensor(st, name, slot->exp_avg);
        snprintf(name, sizeof name, "%s.%s.exp_avg_sq", prefix, slot->name);
        if (s == CLG_OK) s = add_tensor(st, name, slot->exp_avg_sq);
        snprintf(name, sizeof name, "%s.%s.step", prefix, slot->name);
        snprintf(step, sizeof step, "%d", slot->step);
        if (s == CLG_OK) s = clg_safetensors_set_metadata(st, name, step);
    }
    return s;
}

static clg_status load_tensor(const clg_safetensors *st, const char *name, clg_tensor *t) {
    const clg_safetensors_entry *e = clg_safetensors_find(st, name);
    if (!e) return clg_error(CLG_ERR_NOT_FOUND, "training state has no tensor %s", name);
    if (e->numel != clg_tensor_numel(t))
        return clg_error(CLG_ERR_SHAPE, "training state tensor %s has %zu values, want %zu", name,
                         e->numel, clg_tensor_numel(t));
    return clg_tensor_upload(t, e->data, e->numel);
}

clg_status clg_adam_load(clg_adam *adam, const char *prefix, const clg_safetensors *st) {
    char name[300];
    clg_status s = CLG_OK;

    for (int i = 0; s == CLG_OK && i < adam->count; i++) {
        adam_slot *slot = &adam->slots[i];
        const char *step;
        snprintf(name, sizeof name, "%s.%s.exp_avg", prefix, slot->name);
        s = load_tensor(st, name, slot->exp_avg);
        snprintf(name, sizeof name, "%s.%s.exp_avg_sq", prefix, slot->name);
        if (s == CLG_OK) s = load_tensor(st, name, slot->exp_avg_sq);
        snprintf(name, sizeof name, "%s.%s.step", prefix, slot->name);
        step = clg_safetensors_get_metadata(st, name);
        if (s == CLG_OK) slot->step = step ? atoi(step) : 0;
    }
    return s;
}
