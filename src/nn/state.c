/* Loading a module's state from safetensors with full checking, and saving it. */
#include "nn/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bounded report of everything that does not match. */
typedef struct report {
    char text[4096];
    size_t len;
    int missing, unexpected, shapes;
} report;

static void report_add(report *r, const char *fmt, ...) {
    va_list ap;
    int n;

    if (r->len >= sizeof r->text - 1) return;
    va_start(ap, fmt);
    n = vsnprintf(r->text + r->len, sizeof r->text - r->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    r->len += (size_t)n;
    if (r->len >= sizeof r->text - 1) {
        r->len = sizeof r->text - 1;
        memcpy(r->text + sizeof r->text - 5, "...", 4);
    }
}

static const clgi_state_entry *find_entry(const clgi_state_entry *e, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].name, name)) return &e[i];
    return NULL;
}

static clg_tensor *entry_tensor(const clgi_state_entry *e) {
    if (e->kind == CLGI_STATE_PARAM) return clg_var_value(e->owner->params[e->index]);
    return e->kind == CLGI_STATE_BUFFER ? e->owner->buffers[e->index] : NULL;
}

static void shape_text(const clg_safetensors_entry *f, char *buf, size_t size) {
    size_t len = 0;

    len += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < f->ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "",
                                (long long)f->shape[i]);
    if (len < size) snprintf(buf + len, size - len, "]");
}

static int shape_matches(const clgi_state_entry *e, const clg_safetensors_entry *f) {
    const clg_tensor *t = entry_tensor(e);

    if (!t) return f->numel == 1 && f->ndim <= 1; /* the counter: 0-d or [1] */
    if (f->ndim != clg_tensor_ndim(t)) return 0;
    for (int i = 0; i < f->ndim; i++)
        if (f->shape[i] != clg_tensor_dim(t, i)) return 0;
    return 1;
}

/* Old checkpoints carry running statistics for InstanceNorm2d(track_running_stats=False). */
static int stale_instance_norm_key(clg_module *m, const char *key) {
    static const char *const suffixes[] = {".running_mean", ".running_var", ".num_batches_tracked"};
    char path[1024];

    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t klen = strlen(key), slen = strlen(suffixes[i]);
        clg_module *owner;
        if (klen <= slen || klen - slen >= sizeof path || strcmp(key + klen - slen, suffixes[i]))
            continue;
        memcpy(path, key, klen - slen);
        path[klen - slen] = '\0';
        owner = clgi_module_find(m, path);
        return owner && owner->cls == &clgi_instance_norm2d_class;
    }
    return 0;
}

/* The module-side name of a file key, or NULL when prefix excludes it. */
static const char *local_name(const char *key, const char *prefix) {
    size_t plen = prefix ? strlen(prefix) : 0;

    if (plen && strncmp(key, prefix, plen)) return NULL;
    key += plen;
    if (!strncmp(key, "module.", 7)) key += 7;
    return key;
}

/* Match every file key to an entry (match[i] for entry i) and report what does not fit. */
static void match_keys(clg_module *m, const clg_safetensors *st, const char *prefix,
                       const clgi_state_entry *e, int n, const clg_safetensors_entry **match,
                       report *r) {
    size_t count = clg_safetensors_count(st);

    for (size_t i = 0; i < count; i++) {
        const clg_safetensors_entry *f = clg_safetensors_get(st, i);
        const char *name = local_name(f->name, prefix);
        const clgi_state_entry *hit = name ? find_entry(e, n, name) : NULL;
        char want[96], got[96];

        if (!name) continue;
        if (!hit || match[hit - e]) {
            if (!hit && stale_instance_norm_key(m, name)) {
                clg_log(CLG_LOG_INFO, "dropping %s: InstanceNorm2d keeps no running statistics",
                        f->name);
                continue;
            }
            report_add(r, "%s%s", r->unexpected++ ? ", " : "; unexpected: ", f->name);
            continue;
        }
        match[hit - e] = f;
        if (shape_matches(hit, f)) continue;
        shape_text(f, got, sizeof got);
        if (entry_tensor(hit))
            clg_tensor_shape_string(entry_tensor(hit), want, sizeof want);
        else
            snprintf(want, sizeof want, "[] (one element)");
        report_add(r, "%s%s is %s in the file but %s in the network",
                   r->shapes++ ? ", " : "; shape: ", f->name, got, want);
    }
    for (int i = 0; i < n; i++)
        if (!match[i] && e[i].kind != CLGI_STATE_COUNTER)
            report_add(r, "%s%s%s", r->missing++ ? ", " : "; missing: ", prefix ? prefix : "",
                       e[i].name);
}

static clg_status copy_in(const clgi_state_entry *e, int n, const clg_safetensors_entry **match) {
    clg_status s = CLG_OK;

    for (int i = 0; i < n && s == CLG_OK; i++) {
        if (!match[i]) continue;
        if (e[i].kind == CLGI_STATE_COUNTER)
            e[i].owner->num_batches_tracked = (int64_t)match[i]->data[0];
        else
            s = clg_tensor_upload(entry_tensor(&e[i]), match[i]->data, match[i]->numel);
    }
    return s;
}

clg_status clg_module_load_state(clg_module *m, const clg_safetensors *st, const char *prefix) {
    const clgi_state_entry *e;
    const clg_safetensors_entry **match;
    report r = {.len = 0};
    int n;
    clg_status s = clgi_module_state(m, &e, &n);

    if (s != CLG_OK) return s;
    match = calloc((size_t)n + 1, sizeof *match);
    if (!match) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for loading");
    match_keys(m, st, prefix, e, n, match, &r);
    if (r.missing || r.unexpected || r.shapes)
        s = clg_error(r.missing || r.unexpected ? CLG_ERR_NOT_FOUND : CLG_ERR_SHAPE,
                      "the weights do not fit the network, nothing loaded%s", r.text);
    else
        s = copy_in(e, n, match);
    free(match);
    return s;
}

clg_status clg_module_load_file(clg_module *m, const char *path) {
    clg_safetensors *st = NULL;
    clg_status s = clg_safetensors_read(path, &st);

    if (s == CLG_OK) s = clg_module_load_state(m, st, NULL);
    if (s != CLG_OK && st) { /* name the file; the reader's messages already do */
        char why[4096];
        snprintf(why, sizeof why, "%s", clg_last_error());
        clg_error(s, "%s: %s", path, why);
    }
    clg_safetensors_release(st);
    return s;
}

/* ---- Saving ---- */

static clg_status add_entry(clg_safetensors *st, const char *prefix, const clgi_state_entry *e) {
    clg_tensor *t = entry_tensor(e);
    int64_t shape[CLG_MAX_DIMS];
    char name[1024];
    float *host, counter;
    clg_status s;

    snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", e->name);
    if (!t) {
        counter = (float)e->owner->num_batches_tracked;
        return clg_safetensors_add(st, name, 0, NULL, &counter);
    }
    host = malloc(clg_tensor_numel(t) * sizeof *host);
    if (!host) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for saving");
    for (int i = 0; i < clg_tensor_ndim(t); i++) shape[i] = clg_tensor_dim(t, i);
    s = clg_tensor_download(t, host, clg_tensor_numel(t));
    if (s == CLG_OK) s = clg_safetensors_add(st, name, clg_tensor_ndim(t), shape, host);
    free(host);
    return s;
}

clg_status clg_module_add_state(clg_module *m, clg_safetensors *st, const char *prefix) {
    const clgi_state_entry *e;
    int n;
    clg_status s = clgi_module_state(m, &e, &n);

    for (int i = 0; i < n && s == CLG_OK; i++) s = add_entry(st, prefix, &e[i]);
    return s;
}

clg_status clg_module_save_file(clg_module *m, const char *path) {
    clg_safetensors *st = NULL;
    clg_status s = clg_safetensors_create(&st);

    for (int i = 0; i < m->n_meta && s == CLG_OK; i++)
        s = clg_safetensors_set_metadata(st, m->meta_keys[i], m->meta_values[i]);
    if (s == CLG_OK) s = clg_module_add_state(m, st, NULL);
    if (s == CLG_OK) s = clg_safetensors_write(st, path);
    clg_safetensors_release(st);
    return s;
}
