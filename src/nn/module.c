/* Modules: the tree of children, parameter and buffer listing by name, modes, metadata. */
#include "nn/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static clg_status no_memory(void) {
    return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for a module");
}

clg_status clgi_module_new(const clgi_module_class *cls, clg_module **out) {
    clg_module *m = calloc(1, sizeof *m);

    *out = NULL;
    if (!m) return no_memory();
    m->cls = cls;
    m->training = 1;
    *out = m;
    return CLG_OK;
}

static clg_status filled_tensor(clg_device *device, int ndim, const int *shape, float value,
                                clg_tensor **out) {
    clg_status s = clg_tensor_create(device, ndim, shape, out);

    if (s == CLG_OK) s = clg_tensor_fill(*out, value);
    if (s != CLG_OK) {
        clg_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

clg_status clgi_module_add_param(clg_module *m, clg_device *device, const char *name, int ndim,
                                 const int *shape, float value) {
    clg_tensor *t = NULL;
    clg_status s = filled_tensor(device, ndim, shape, value, &t);

    if (s == CLG_OK) s = clg_var_create(t, 1, &m->params[m->n_params]);
    if (s != CLG_OK) return s;
    snprintf(m->param_names[m->n_params++], CLGI_NAME_MAX, "%s", name);
    return CLG_OK;
}

clg_status clgi_module_add_buffer(clg_module *m, clg_device *device, const char *name, int ndim,
                                  const int *shape, float value) {
    clg_status s = filled_tensor(device, ndim, shape, value, &m->buffers[m->n_buffers]);

    if (s != CLG_OK) return s;
    snprintf(m->buffer_names[m->n_buffers++], CLGI_NAME_MAX, "%s", name);
    return CLG_OK;
}

static void state_clear(clg_module *m) {
    for (int i = 0; i < m->n_state; i++) free(m->state[i].name);
    free(m->state);
    free(m->param_index);
    m->state = NULL;
    m->param_index = NULL;
    m->n_state = m->n_param_index = 0;
    m->state_valid = 0;
}

void clg_module_release(clg_module *m) {
    if (!m) return;
    for (int i = 0; i < m->n_children; i++) clg_module_release(m->children[i]);
    for (int i = 0; i < m->n_params; i++) clg_var_release(m->params[i]);
    for (int i = 0; i < m->n_buffers; i++) clg_tensor_release(m->buffers[i]);
    for (int i = 0; i < m->n_meta; i++) {
        free(m->meta_keys[i]);
        free(m->meta_values[i]);
    }
    state_clear(m);
    free(m->children);
    free(m->child_names);
    free(m->meta_keys);
    free(m->meta_values);
    free(m);
}

const char *clg_module_kind(const clg_module *m) {
    return m->cls->kind;
}

clg_status clg_module_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    if (!m || !x || !out) return clg_error(CLG_ERR_INVALID_ARGUMENT, "forward: NULL argument");
    *out = NULL;
    return m->cls->forward(m, tape, x, out);
}

/* ---- Containers ---- */

static clg_status sequential_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    clg_var *h = clg_var_retain(x);

    for (int i = 0; i < m->n_children; i++) {
        clg_var *next = NULL;
        clg_status s = clg_module_forward(m->children[i], tape, h, &next);
        clg_var_release(h);
        if (s != CLG_OK) return s;
        h = next;
    }
    *out = h;
    return CLG_OK;
}

static const clgi_module_class sequential_class = {"Sequential", sequential_forward};

clg_status clg_sequential_create(clg_module **out) {
    return clgi_module_new(&sequential_class, out);
}

/* The state of m and of every ancestor is stale after a change below it. */
static void invalidate_up(clg_module *m) {
    for (; m; m = m->parent) state_clear(m);
}

clg_status clg_sequential_append_named(clg_module *seq, const char *name, clg_module *child) {
    if (child && (child->parent || child == seq)) /* not ours to release */
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "append: the module already has a parent");
    if (!seq || !child || !name || !*name || strchr(name, '.') || strlen(name) >= CLGI_NAME_MAX) {
        clg_module_release(child);
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "append: a NULL module, or a child name that is empty, holds a dot or "
                         "is too long");
    }
    if (seq->n_children == seq->cap_children) {
        int cap = seq->cap_children ? seq->cap_children * 2 : 8;
        clg_module **children = realloc(seq->children, (size_t)cap * sizeof *children);
        char(*names)[CLGI_NAME_MAX] =
            children ? realloc(seq->child_names, (size_t)cap * sizeof *names) : NULL;
        if (children) seq->children = children;
        if (!names) {
            clg_module_release(child);
            return no_memory();
        }
        seq->child_names = names;
        seq->cap_children = cap;
    }
    snprintf(seq->child_names[seq->n_children], CLGI_NAME_MAX, "%s", name);
    seq->children[seq->n_children++] = child;
    child->parent = seq;
    invalidate_up(seq);
    return CLG_OK;
}

clg_status clg_sequential_append(clg_module *seq, clg_module *child) {
    char name[16];

    snprintf(name, sizeof name, "%d", seq ? seq->n_children : 0);
    return clg_sequential_append_named(seq, name, child);
}

int clg_sequential_length(const clg_module *seq) {
    return seq->n_children;
}

clg_module *clg_sequential_child(const clg_module *seq, int index) {
    return index >= 0 && index < seq->n_children ? seq->children[index] : NULL;
}

/* ---- Walking the tree ---- */

static clg_status walk(clg_module *m, char *path, size_t len, size_t cap, clgi_visit_fn visit,
                       void *user) {
    clg_status s = visit(m, path, user);

    for (int i = 0; i < m->n_children && s == CLG_OK; i++) {
        int n = snprintf(path + len, cap - len, "%s%s", len ? "." : "", m->child_names[i]);
        if (n < 0 || (size_t)n >= cap - len)
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "module path too long at %s", path);
        s = walk(m->children[i], path, len + (size_t)n, cap, visit, user);
        path[len] = '\0';
    }
    return s;
}

clg_status clgi_module_walk(clg_module *m, clgi_visit_fn visit, void *user) {
    char path[1024] = "";
    return walk(m, path, 0, sizeof path, visit, user);
}

clg_module *clgi_module_find(clg_module *m, const char *path) {
    while (m && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        clg_module *next = NULL;
        for (int i = 0; i < m->n_children && !next; i++)
            if (strlen(m->child_names[i]) == len && !strncmp(m->child_names[i], path, len))
                next = m->children[i];
        m = next;
        path += len + (dot ? 1 : 0);
    }
    return m;
}

/* ---- The flattened state ---- */

typedef struct state_builder {
    clg_module *root;
    int capacity;
} state_builder;

static clg_status state_push(state_builder *b, clg_module *owner, const char *path,
                             const char *name, clgi_state_kind kind, int index) {
    clg_module *r = b->root;
    size_t len = strlen(path) + strlen(name) + 2;
    char *full = malloc(len);

    if (!full) return no_memory();
    snprintf(full, len, "%s%s%s", path, *path ? "." : "", name);
    if (r->n_state == b->capacity) {
        int cap = b->capacity ? b->capacity * 2 : 32;
        clgi_state_entry *grown = realloc(r->state, (size_t)cap * sizeof *grown);
        int *idx = grown ? realloc(r->param_index, (size_t)cap * sizeof *idx) : NULL;
        if (grown) r->state = grown;
        if (!idx) {
            free(full);
            return no_memory();
        }
        r->param_index = idx;
        b->capacity = cap;
    }
    if (kind == CLGI_STATE_PARAM) r->param_index[r->n_param_index++] = r->n_state;
    r->state[r->n_state++] = (clgi_state_entry){full, owner, kind, index};
    return CLG_OK;
}

static clg_status state_visit(clg_module *m, const char *path, void *user) {
    clg_status s = CLG_OK;

    for (int i = 0; i < m->n_params && s == CLG_OK; i++)
        s = state_push(user, m, path, m->param_names[i], CLGI_STATE_PARAM, i);
    for (int i = 0; i < m->n_buffers && s == CLG_OK; i++)
        s = state_push(user, m, path, m->buffer_names[i], CLGI_STATE_BUFFER, i);
    if (m->has_counter && s == CLG_OK)
        s = state_push(user, m, path, "num_batches_tracked", CLGI_STATE_COUNTER, 0);
    return s;
}

clg_status clgi_module_state(clg_module *m, const clgi_state_entry **entries, int *count) {
    if (!m->state_valid) {
        state_builder b = {m, 0};
        clg_status s;
        state_clear(m);
        s = clgi_module_walk(m, state_visit, &b);
        if (s != CLG_OK) {
            state_clear(m);
            return s;
        }
        m->state_valid = 1;
    }
    *entries = m->state;
    *count = m->n_state;
    return CLG_OK;
}

int clg_module_param_count(clg_module *m) {
    const clgi_state_entry *e;
    int n;
    return clgi_module_state(m, &e, &n) == CLG_OK ? m->n_param_index : 0;
}

clg_status clg_module_param_at(clg_module *m, int index, const char **name, clg_var **var) {
    const clgi_state_entry *e;
    int n;
    clg_status s = clgi_module_state(m, &e, &n);

    if (s != CLG_OK) return s;
    if (index < 0 || index >= m->n_param_index)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "parameter index %d of %d", index,
                         m->n_param_index);
    e += m->param_index[index];
    if (name) *name = e->name;
    if (var) *var = e->owner->params[e->index];
    return CLG_OK;
}

clg_var *clg_module_find_param(clg_module *m, const char *name) {
    int n = clg_module_param_count(m);

    for (int i = 0; i < n; i++) {
        const clgi_state_entry *e = &m->state[m->param_index[i]];
        if (!strcmp(e->name, name)) return e->owner->params[e->index];
    }
    return NULL;
}

size_t clg_module_param_numel(clg_module *m) {
    size_t total = 0;
    int n = clg_module_param_count(m);

    for (int i = 0; i < n; i++) {
        const clgi_state_entry *e = &m->state[m->param_index[i]];
        total += clg_tensor_numel(clg_var_value(e->owner->params[e->index]));
    }
    return total;
}

int clg_module_state_count(clg_module *m) {
    const clgi_state_entry *e;
    int n, count = 0;

    if (clgi_module_state(m, &e, &n) != CLG_OK) return 0;
    for (int i = 0; i < n; i++) count += e[i].kind != CLGI_STATE_COUNTER;
    return count;
}

clg_status clg_module_state_at(clg_module *m, int index, const char **name, clg_tensor **tensor) {
    const clgi_state_entry *e;
    int n;
    clg_status s = clgi_module_state(m, &e, &n);

    for (int i = 0; s == CLG_OK && i < n; i++) {
        if (e[i].kind == CLGI_STATE_COUNTER || index-- > 0) continue;
        if (name) *name = e[i].name;
        if (tensor)
            *tensor = e[i].kind == CLGI_STATE_PARAM ? clg_var_value(e[i].owner->params[e[i].index])
                                                    : e[i].owner->buffers[e[i].index];
        return CLG_OK;
    }
    return s != CLG_OK ? s : clg_error(CLG_ERR_INVALID_ARGUMENT, "state index out of range");
}

/* ---- Modes ---- */

static clg_status visit_requires_grad(clg_module *m, const char *path, void *user) {
    (void)path;
    for (int i = 0; i < m->n_params; i++)
        clg_var_set_requires_grad(m->params[i], *(const int *)user);
    return CLG_OK;
}

void clg_module_set_requires_grad(clg_module *m, int requires_grad) {
    clgi_module_walk(m, visit_requires_grad, &requires_grad);
}

static clg_status visit_training(clg_module *m, const char *path, void *user) {
    (void)path;
    m->training = *(const int *)user;
    return CLG_OK;
}

void clg_module_set_training(clg_module *m, int training) {
    training = training != 0;
    clgi_module_walk(m, visit_training, &training);
}

int clg_module_is_training(const clg_module *m) {
    return m->training;
}

static clg_status visit_zero_grad(clg_module *m, const char *path, void *user) {
    (void)path;
    (void)user;
    for (int i = 0; i < m->n_params; i++) clg_var_zero_grad(m->params[i]);
    return CLG_OK;
}

void clg_module_zero_grad(clg_module *m) {
    clgi_module_walk(m, visit_zero_grad, NULL);
}

/* ---- Metadata ---- */

clg_status clg_module_set_metadata(clg_module *m, const char *key, const char *value) {
    char *k, *v = strdup(value);
    char **keys, **values;

    for (int i = 0; i < m->n_meta; i++) {
        if (strcmp(m->meta_keys[i], key)) continue;
        if (!v) return no_memory();
        free(m->meta_values[i]);
        m->meta_values[i] = v;
        return CLG_OK;
    }
    k = strdup(key);
    keys = realloc(m->meta_keys, (size_t)(m->n_meta + 1) * sizeof *keys);
    if (keys) m->meta_keys = keys;
    values = keys ? realloc(m->meta_values, (size_t)(m->n_meta + 1) * sizeof *values) : NULL;
    if (values) m->meta_values = values;
    if (!k || !v || !values) {
        free(k);
        free(v);
        return no_memory();
    }
    m->meta_keys[m->n_meta] = k;
    m->meta_values[m->n_meta++] = v;
    return CLG_OK;
}

const char *clg_module_get_metadata(const clg_module *m, const char *key) {
    for (int i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta_keys[i], key)) return m->meta_values[i];
    return NULL;
}
