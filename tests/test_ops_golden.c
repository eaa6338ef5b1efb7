/* The golden runner: every case of tests/golden/ops.safetensors through its op's handler. */
#include "golden_ops.h"
#include "support.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_FILE      "tests/golden/ops.safetensors"
#define MAX_CASE_TENSORS 64
#define MAX_CASE_TEXTS   16

struct golden_case {
    const char *name;
    const cJSON *params;
    const clg_safetensors *file;
    clg_tensor *uploaded[MAX_CASE_TENSORS]; /* released when the case ends */
    int uploaded_count;
    char *texts[MAX_CASE_TEXTS]; /* printed parameters, freed when the case ends */
    int text_count;
};

/* An op family: one cmocka test that runs every case whose op is listed. */
typedef struct golden_family {
    const char *test_name;
    golden_handler handler;
    const char *ops[6];
} golden_family;

static const golden_family families[] = {
    {"conv2d", golden_conv2d, {"conv2d"}},
    {"conv_transpose2d", golden_conv_transpose2d, {"conv_transpose2d"}},
    {"pad2d", golden_pad2d, {"reflection_pad2d", "zero_pad2d"}},
    {"instance_norm", golden_instance_norm, {"instance_norm2d"}},
    {"batch_norm", golden_batch_norm, {"batch_norm2d"}},
    {"activation", golden_activation, {"relu", "leaky_relu", "tanh", "sigmoid"}},
    {"eltwise", golden_eltwise, {"add", "sub", "mul", "scale"}},
    {"reduce", golden_reduce, {"sum", "mean"}},
    {"loss",
     golden_loss,
     {"mse_loss", "mse_loss_const", "l1_loss", "bce_with_logits_const", "tv_loss"}},
    {"gram", golden_gram, {"gram"}},
    {"pool", golden_pool, {"max_pool2d", "avg_pool2d"}},
    {"adam", golden_adam, {"adam"}},
};
#define FAMILY_COUNT (sizeof families / sizeof families[0])

static clg_safetensors *golden_file;
static cJSON *case_list;         /* JSON array of case names */
static const char *running_case; /* the case in progress, named if a test fails in it */

/* ---- The case accessors of golden_ops.h ---- */

const char *golden_name(const golden_case *c) {
    return c->name;
}

static const cJSON *param_item(const golden_case *c, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(c->params, key);
}

const char *golden_param(const golden_case *c, const char *key) {
    golden_case *mc = (golden_case *)c;
    const cJSON *item = param_item(c, key);
    char *text;

    if (!item) return NULL;
    if (cJSON_IsString(item)) return item->valuestring;
    if (mc->text_count == MAX_CASE_TEXTS) fail_msg("%s: too many parameters printed", c->name);
    text = cJSON_PrintUnformatted(item);
    assert_non_null(text);
    mc->texts[mc->text_count++] = text;
    return text;
}

int golden_param_int(const golden_case *c, const char *key, int def) {
    const cJSON *item = param_item(c, key);

    if (cJSON_IsBool(item)) return cJSON_IsTrue(item);
    return cJSON_IsNumber(item) ? item->valueint : def;
}

double golden_param_double(const golden_case *c, const char *key, double def) {
    const cJSON *item = param_item(c, key);

    if (cJSON_IsBool(item)) return cJSON_IsTrue(item);
    return cJSON_IsNumber(item) ? item->valuedouble : def;
}

static const clg_safetensors_entry *find_entry(const golden_case *c, const char *name) {
    char full[512];

    snprintf(full, sizeof full, "%s.%s", c->name, name);
    return clg_safetensors_find(c->file, full);
}

const float *golden_host(const golden_case *c, const char *name, size_t *numel) {
    const clg_safetensors_entry *e = find_entry(c, name);

    if (!e) return NULL;
    if (numel) *numel = e->numel;
    return e->data;
}

clg_tensor *golden_tensor(const golden_case *c, const char *name) {
    golden_case *mc = (golden_case *)c;
    const clg_safetensors_entry *e = find_entry(c, name);
    int shape[CLG_MAX_DIMS];
    clg_tensor *t;

    if (!e) return NULL;
    if (e->ndim < 1 || e->ndim > CLG_MAX_DIMS)
        fail_msg("%s.%s: %d dimensions", c->name, name, e->ndim);
    for (int i = 0; i < e->ndim; i++) shape[i] = (int)e->shape[i];
    if (mc->uploaded_count == MAX_CASE_TENSORS) fail_msg("%s: too many tensors", c->name);
    t = test_tensor(e->ndim, shape, e->data);
    mc->uploaded[mc->uploaded_count++] = t;
    return t;
}

void golden_expect(const golden_case *c, const char *name, const clg_tensor *got) {
    const clg_safetensors_entry *e = find_entry(c, name);
    char what[512];
    double max_abs = 0.0;
    float *data;

    snprintf(what, sizeof what, "%s.%s", c->name, name);
    if (!e) fail_msg("%s: no such tensor in %s", what, GOLDEN_FILE);
    if (!got) fail_msg("%s: nothing computed", what);
    if (clg_tensor_numel(got) != e->numel)
        fail_msg("%s: %zu values computed, %zu expected", what, clg_tensor_numel(got), e->numel);
    for (size_t i = 0; i < e->numel; i++)
        if (fabs(e->data[i]) > max_abs) max_abs = fabs(e->data[i]);
    data = test_download(got);
    assert_floats_close(data, e->data, e->numel, 1e-4, fmax(1e-5 * max_abs, 1e-7), what);
    free(data);
}

/* ---- Running cases ---- */

static void end_case(golden_case *c) {
    for (int i = 0; i < c->uploaded_count; i++) clg_tensor_release(c->uploaded[i]);
    for (int i = 0; i < c->text_count; i++) cJSON_free(c->texts[i]);
    c->uploaded_count = c->text_count = 0;
}

static int family_has(const golden_family *f, const char *op) {
    for (size_t i = 0; i < sizeof f->ops / sizeof f->ops[0] && f->ops[i]; i++)
        if (strcmp(f->ops[i], op) == 0) return 1;
    return 0;
}

/* The parsed metadata of case name (the caller deletes it); fails the test if absent. */
static cJSON *case_params(const char *name) {
    const char *text = clg_safetensors_get_metadata(golden_file, name);
    cJSON *params = text ? cJSON_Parse(text) : NULL;

    if (!params || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(params, "op")))
        fail_msg("case %s: missing or malformed metadata", name);
    return params;
}

static void run_family(void **state) {
    const golden_family *f = *state;
    const cJSON *entry;
    int ran = 0;

    cJSON_ArrayForEach(entry, case_list) {
        golden_case c = {entry->valuestring, NULL, golden_file, {0}, 0, {0}, 0};
        cJSON *params = case_params(c.name);

        if (family_has(f, cJSON_GetObjectItemCaseSensitive(params, "op")->valuestring)) {
            c.params = params;
            running_case = c.name;
            f->handler(&c);
            end_case(&c);
            running_case = NULL;
            ran++;
        }
        cJSON_Delete(params);
    }
    if (ran == 0) fail_msg("no golden cases for %s", f->test_name);
}

/* Every case's op has a family: a new op in the file cannot go untested. */
static void test_every_op_handled(void **state) {
    const cJSON *entry;

    (void)state;
    cJSON_ArrayForEach(entry, case_list) {
        cJSON *params = case_params(entry->valuestring);
        const char *op = cJSON_GetObjectItemCaseSensitive(params, "op")->valuestring;
        size_t i = 0;

        while (i < FAMILY_COUNT && !family_has(&families[i], op)) i++;
        if (i == FAMILY_COUNT) fail_msg("case %s: no handler for op %s", entry->valuestring, op);
        cJSON_Delete(params);
    }
}

/* Name the case a failed test stopped in; cmocka calls this after each test, failed or not. */
static int report_case(void **state) {
    (void)state;
    if (running_case) fprintf(stderr, "golden: the failure is in case %s\n", running_case);
    running_case = NULL;
    return 0;
}

static int load_golden(void **state) {
    const char *list;

    (void)state;
    if (clg_safetensors_read(test_source_path(GOLDEN_FILE), &golden_file) != CLG_OK) {
        fprintf(stderr, "cannot read %s: %s\n", GOLDEN_FILE, clg_last_error());
        return -1;
    }
    list = clg_safetensors_get_metadata(golden_file, "cases");
    case_list = list ? cJSON_Parse(list) : NULL;
    if (!cJSON_IsArray(case_list)) {
        fprintf(stderr, "%s: no \"cases\" list in the metadata\n", GOLDEN_FILE);
        return -1;
    }
    test_device();
    return 0;
}

static int unload_golden(void **state) {
    (void)state;
    cJSON_Delete(case_list);
    clg_safetensors_release(golden_file);
    return 0;
}

int main(void) {
    struct CMUnitTest tests[FAMILY_COUNT + 1];

    for (size_t i = 0; i < FAMILY_COUNT; i++)
        tests[i] = (struct CMUnitTest){families[i].test_name, run_family, NULL, report_case,
                                       (void *)&families[i]};
    tests[FAMILY_COUNT] =
        (struct CMUnitTest){"every_op_handled", test_every_op_handled, NULL, NULL, NULL};
    return _cmocka_run_group_tests("ops_golden", tests, FAMILY_COUNT + 1, load_golden,
                                   unload_golden);
}
