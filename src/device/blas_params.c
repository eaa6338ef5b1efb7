/* CLBlast kernel parameters per device: legality rules, the stored tuned file, applying at open. */
#include "clgan/tune.h"
#include "device/internal.h"

#include <clblast_c.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CLBlast's default kernels use work-groups of up to this many items. */
#define CLBLAST_DEFAULT_GROUP 256
#define TUNED_MAGIC           "clgan-clblast-params 1"
#define TUNED_MAX_BYTES       65536

/* ---- Single-item parameters for devices with tiny work-groups ---- */

/* One work-item per group everywhere: slow, but legal on any device. */
static const clg_blas_params single_item_params[] = {
    {"Xgemm",
     16,
     {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
      "STRM", "STRN", "VWM", "VWN"},
     {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1}},
    {"XgemmDirect",
     10,
     {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
     {1, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
    {"Copy", 4, {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT"}, {1, 1, 1, 1}},
    {"Pad", 4, {"PAD_DIMX", "PAD_DIMY", "PAD_WPTX", "PAD_WPTY"}, {1, 1, 1, 1}},
    {"Transpose", 4, {"TRA_DIM", "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT"}, {1, 0, 0, 1}},
    {"Padtranspose", 3, {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT"}, {0, 1, 1}},
};

/* Hand p to CLBlast for the device; CLBlast uses it from the next call on. */
CLBlastStatusCode clgi_blas_override(clg_device *dev, const clg_blas_params *p);

CLBlastStatusCode clgi_blas_override(clg_device *dev, const clg_blas_params *p) {
    const char *names[CLG_BLAS_MAX_PARAMS];

    for (int i = 0; i < p->count; i++) names[i] = p->names[i];
    return CLBlastOverrideParameters(dev->id, p->kernel, CLBlastPrecisionSingle, (size_t)p->count,
                                     names, p->values);
}

/* ---- Legality rules ---- */

/*
 * DIVIDES: a % (b * c / d) == 0, every operand positive and b * c divisible by d
 * (c and d may be NULL, meaning 1). SAME_UNLESS: a == b unless flag c is set.
 * VECTOR: a is 1, 2, 4, 8 or 16. FLAG: a is 0 or 1. FIXED: a == value.
 */
typedef enum rule_kind { DIVIDES, SAME_UNLESS, VECTOR, FLAG, FIXED } rule_kind;

typedef struct rule {
    rule_kind kind;
    const char *a, *b, *c, *d;
    size_t value;
} rule;

typedef struct kernel_rules {
    const char *kernel;
    int count;
    const char *names[CLG_BLAS_MAX_PARAMS]; /* every parameter CLBlast expects */
    const char *group[2];                   /* work-items per group: the product of these */
    const rule *rules;
    int rule_count;
    size_t (*local_bytes)(const clg_blas_params *p);
} kernel_rules;

/* The value of a named parameter of p, or 0 when p lacks it. */
static size_t param(const clg_blas_params *p, const char *name) {
    for (int i = 0; name && i < p->count; i++)
        if (strcmp(p->names[i], name) == 0) return p->values[i];
    return 0;
}

static const rule xgemm_rules[] = {
    {FIXED, "GEMMK", NULL, NULL, NULL, 0},
    {FIXED, "KREG", NULL, NULL, NULL, 1},
    {FLAG, "SA", NULL, NULL, NULL, 0},
    {FLAG, "SB", NULL, NULL, NULL, 0},
    {FLAG, "STRM", NULL, NULL, NULL, 0},
    {FLAG, "STRN", NULL, NULL, NULL, 0},
    {VECTOR, "VWM", NULL, NULL, NULL, 0},
    {VECTOR, "VWN", NULL, NULL, NULL, 0},
    {DIVIDES, "MWG", "MDIMC", "VWM", NULL, 0},
    {DIVIDES, "NWG", "NDIMC", "VWN", NULL, 0},
    {DIVIDES, "MWG", "MDIMA", "VWM", NULL, 0},
    {DIVIDES, "NWG", "NDIMB", "VWN", NULL, 0},
    {DIVIDES, "KWG", "MDIMC", "NDIMC", "MDIMA", 0},
    {DIVIDES, "KWG", "MDIMC", "NDIMC", "NDIMB", 0},
    {DIVIDES, "KWG", "KWI", NULL, NULL, 0},
    {SAME_UNLESS, "MDIMA", "MDIMC", "SA", NULL, 0},
    {SAME_UNLESS, "NDIMB", "NDIMC", "SB", NULL, 0},
};

static const rule direct_rules[] = {
    {FLAG, "PADA", NULL, NULL, NULL, 0},
    {FLAG, "PADB", NULL, NULL, NULL, 0},
    {VECTOR, "VWMD", NULL, NULL, NULL, 0},
    {VECTOR, "VWND", NULL, NULL, NULL, 0},
    {DIVIDES, "WGD", "MDIMCD", "VWMD", NULL, 0},
    {DIVIDES, "WGD", "NDIMCD", "VWND", NULL, 0},
    {DIVIDES, "WGD", "MDIMAD", "VWMD", NULL, 0},
    {DIVIDES, "WGD", "NDIMBD", "VWND", NULL, 0},
    {DIVIDES, "WGD", "MDIMCD", "NDIMCD", "MDIMAD", 0},
    {DIVIDES, "WGD", "MDIMCD", "NDIMCD", "NDIMBD", 0},
    {DIVIDES, "WGD", "KWID", NULL, NULL, 0},
};

static const rule routing_rules[] = {
    {DIVIDES, "XGEMM_MIN_INDIRECT_SIZE", NULL, NULL, NULL, 0},
};

/* Local memory of the indirect kernel: KWG x MWG of A and KWG x NWG of B when cached. */
static size_t xgemm_local(const clg_blas_params *p) {
    return sizeof(float) * param(p, "KWG") *
           (param(p, "SA") * param(p, "MWG") + param(p, "SB") * param(p, "NWG"));
}

/* Local memory of the direct kernel: two WGD x WGD tiles, each row padded by PADA / PADB. */
static size_t direct_local(const clg_blas_params *p) {
    size_t wgd = param(p, "WGD");
    return sizeof(float) * wgd * (2 * wgd + param(p, "PADA") + param(p, "PADB"));
}

static size_t no_local(const clg_blas_params *p) {
    (void)p;
    return 0;
}

#define RULES(r) r, (int)(sizeof r / sizeof r[0])

static const kernel_rules known_kernels[] = {
    {"Xgemm",
     16,
     {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
      "STRM", "STRN", "VWM", "VWN"},
     {"MDIMC", "NDIMC"},
     RULES(xgemm_rules),
     xgemm_local},
    {"XgemmDirect",
     10,
     {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
     {"MDIMCD", "NDIMCD"},
     RULES(direct_rules),
     direct_local},
    {"GemmRouting", 1, {"XGEMM_MIN_INDIRECT_SIZE"}, {NULL, NULL}, RULES(routing_rules), no_local},
};

static const kernel_rules *find_rules(const char *kernel) {
    for (size_t i = 0; i < sizeof known_kernels / sizeof known_kernels[0]; i++)
        if (strcmp(known_kernels[i].kernel, kernel) == 0) return &known_kernels[i];
    return NULL;
}

/* Write the reason into why (when given) and return 0. */
static int broken(char *why, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int broken(char *why, size_t size, const char *fmt, ...) {
    va_list ap;

    if (!why || !size) return 0;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return 0;
}

static int rule_holds(const rule *r, const clg_blas_params *p) {
    size_t a = param(p, r->a), b = param(p, r->b);
    size_t c = r->c ? param(p, r->c) : 1, d = r->d ? param(p, r->d) : 1;

    switch (r->kind) {
    case DIVIDES:
        if (r->b == NULL) return a > 0;
        return a > 0 && b > 0 && c > 0 && d > 0 && (b * c) % d == 0 && a % (b * c / d) == 0;
    case SAME_UNLESS:
        return param(p, r->c) != 0 || a == b;
    case VECTOR:
        return a == 1 || a == 2 || a == 4 || a == 8 || a == 16;
    case FLAG:
        return a <= 1;
    case FIXED:
        return a == r->value;
    }
    return 0;
}

/* What rule r demands, as "MWG must be a positive multiple of MDIMC * VWM". */
static void rule_text(const rule *r, char *buf, size_t size) {
    switch (r->kind) {
    case DIVIDES:
        snprintf(buf, size, "%s must be a positive multiple of %s%s%s%s%s", r->a, r->b ? r->b : "1",
                 r->c ? " * " : "", r->c ? r->c : "", r->d ? " / " : "", r->d ? r->d : "");
        break;
    case SAME_UNLESS:
        snprintf(buf, size, "%s must equal %s unless %s", r->a, r->b, r->c);
        break;
    case VECTOR:
        snprintf(buf, size, "%s must be 1, 2, 4, 8 or 16", r->a);
        break;
    case FLAG:
        snprintf(buf, size, "%s must be 0 or 1", r->a);
        break;
    case FIXED:
        snprintf(buf, size, "%s must be %zu (the only kernel variant clgan checks)", r->a,
                 r->value);
        break;
    }
}

/* Every name of the kernel exactly once and nothing else. */
static int complete(const kernel_rules *k, const clg_blas_params *p, char *why, size_t size) {
    if (p->count != k->count)
        return broken(why, size, "%s takes %d parameters, not %d", k->kernel, k->count, p->count);
    for (int i = 0; i < k->count; i++) {
        int seen = 0;
        for (int j = 0; j < p->count; j++) seen += strcmp(k->names[i], p->names[j]) == 0;
        if (seen != 1)
            return broken(why, size, "parameter %s missing or repeated for %s", k->names[i],
                          k->kernel);
    }
    return 1;
}

/* Work-group and local memory against the device's limits. */
static int fits(const kernel_rules *k, const clg_blas_params *p, const clg_device_info *info,
                char *why, size_t size) {
    size_t group = k->group[0] ? param(p, k->group[0]) * param(p, k->group[1]) : 1;

    if (group > info->max_work_group_size)
        return broken(why, size, "%s needs %zu work-items per group (device allows %zu)", k->kernel,
                      group, info->max_work_group_size);
    if (k->local_bytes(p) > info->local_mem_bytes)
        return broken(why, size, "%s needs %zu bytes of local memory (device has %llu)", k->kernel,
                      k->local_bytes(p), (unsigned long long)info->local_mem_bytes);
    return 1;
}

int clg_blas_params_check(const clg_blas_params *p, const clg_device_info *info, char *why,
                          size_t why_size) {
    const kernel_rules *k = find_rules(p->kernel);

    if (!k) return broken(why, why_size, "unknown CLBlast kernel \"%s\"", p->kernel);
    if (!complete(k, p, why, why_size)) return 0;
    for (int i = 0; i < k->rule_count; i++) {
        if (rule_holds(&k->rules[i], p)) continue;
        if (why && why_size) rule_text(&k->rules[i], why, why_size);
        return 0;
    }
    return info ? fits(k, p, info, why, why_size) : 1;
}

/* ---- The stored file ---- */

static uint64_t fnv1a_str(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull; /* a separator, so "ab","c" differs from "a","bc" */
}

clg_status clg_blas_tuning_path(const clg_device *dev, char *path, size_t size) {
    uint64_t h = 0xcbf29ce484222325ull;

    if (!dev->cache_dir[0])
        return clg_error(CLG_ERR_UNSUPPORTED, "the cache folder is off (CLGAN_CACHE=0 or no home "
                                              "folder): tuned GEMM parameters have no place");
    h = fnv1a_str(fnv1a_str(fnv1a_str(h, dev->info.name), dev->info.vendor),
                  dev->info.driver_version);
    snprintf(path, size, "%s/clblast-%016llx.txt", dev->cache_dir, (unsigned long long)h);
    return CLG_OK;
}

static void write_kernel_line(FILE *f, const clg_blas_params *p) {
    fprintf(f, "kernel %s", p->kernel);
    for (int i = 0; i < p->count; i++) fprintf(f, " %s=%zu", p->names[i], p->values[i]);
    fputc('\n', f);
}

static int write_tuning(FILE *f, const clg_device *dev, const clg_blas_tuning *t,
                        const char *note) {
    fprintf(f,
            "%s\n# CLBlast kernel parameters found by clgan-tune; delete this file to go back to\n"
            "# CLBlast's defaults. %s\ndevice %s\nvendor %s\ndriver %s\n",
            TUNED_MAGIC, note ? note : "", dev->info.name, dev->info.vendor,
            dev->info.driver_version);
    for (int i = 0; i < t->count; i++) write_kernel_line(f, &t->kernels[i]);
    return ferror(f) == 0;
}

clg_status clg_blas_tuning_save(const clg_device *dev, const clg_blas_tuning *tuning,
                                const char *note) {
    char path[1100], tmp[1200], why[160];
    clg_status s = clg_blas_tuning_path(dev, path, sizeof path);
    FILE *f;
    int ok;

    if (s != CLG_OK) return s;
    for (int i = 0; i < tuning->count; i++)
        if (!clg_blas_params_check(&tuning->kernels[i], NULL, why, sizeof why))
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "not storing GEMM parameters: %s", why);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (!(f = fopen(tmp, "w")))
        return clg_error(CLG_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    ok = write_tuning(f, dev, tuning, note);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return clg_error(CLG_ERR_IO, "%s: cannot write tuned GEMM parameters", path);
    }
    return CLG_OK;
}

/* "NAME=VALUE" into slot i of p; 0 when malformed. */
static int parse_pair(const char *token, clg_blas_params *p) {
    const char *eq = strchr(token, '=');
    size_t len = eq ? (size_t)(eq - token) : 0;
    char *end;
    unsigned long long v;

    if (!eq || len == 0 || len >= sizeof p->names[0] || p->count >= CLG_BLAS_MAX_PARAMS) return 0;
    for (size_t i = 0; i < len; i++)
        if (!((token[i] >= 'A' && token[i] <= 'Z') || (token[i] >= '0' && token[i] <= '9') ||
              token[i] == '_'))
            return 0;
    if (eq[1] < '0' || eq[1] > '9') return 0;
    errno = 0;
    v = strtoull(eq + 1, &end, 10);
    if (*end || errno || v > 1000000) return 0;
    memcpy(p->names[p->count], token, len);
    p->names[p->count][len] = '\0';
    p->values[p->count++] = (size_t)v;
    return 1;
}

/* "kernel NAME K=V ..." (the text after "kernel ") into a new entry of t. */
static clg_status parse_kernel(char *rest, clg_blas_tuning *t, const char *where) {
    char *save = NULL, *token = strtok_r(rest, " \t", &save);
    clg_blas_params *p;
    char why[160];

    if (!token || t->count >= CLG_BLAS_MAX_KERNELS || strlen(token) >= sizeof p->kernel)
        return clg_error(CLG_ERR_FORMAT, "%s: a kernel line without a usable kernel name", where);
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->kernels[i].kernel, token) == 0)
            return clg_error(CLG_ERR_FORMAT, "%s: kernel %s appears twice", where, token);
    p = &t->kernels[t->count];
    memset(p, 0, sizeof *p);
    snprintf(p->kernel, sizeof p->kernel, "%s", token);
    while ((token = strtok_r(NULL, " \t", &save)) != NULL)
        if (!parse_pair(token, p))
            return clg_error(CLG_ERR_FORMAT, "%s: \"%s\" is not NAME=VALUE", where, token);
    if (!clg_blas_params_check(p, NULL, why, sizeof why))
        return clg_error(CLG_ERR_FORMAT, "%s: %s", where, why);
    t->count++;
    return CLG_OK;
}

/* Bits of what a file has said: its first line, then its device lines. */
enum { SEEN_MAGIC = 1, SEEN_ALL = 15 };

/* The device lines must name this device: a file copied from elsewhere is not used. */
static clg_status parse_device_line(const char *key, const char *value, const clg_device *dev,
                                    int *seen, const char *where) {
    static const char *const keys[] = {"device", "vendor", "driver"};
    const char *want[] = {dev->info.name, dev->info.vendor, dev->info.driver_version};

    for (int i = 0; i < 3; i++) {
        if (strcmp(key, keys[i]) != 0) continue;
        *seen |= 2 << i;
        return strcmp(value, want[i]) == 0
                   ? CLG_OK
                   : clg_error(CLG_ERR_FORMAT, "%s: written for %s \"%s\", not \"%s\"", where, key,
                               value, want[i]);
    }
    return clg_error(CLG_ERR_FORMAT, "%s: unknown line \"%s\"", where, key);
}

static clg_status parse_line(char *line, int number, int *seen, const clg_device *dev,
                             const char *path, clg_blas_tuning *t) {
    char where[1200], *space;
    size_t len = strlen(line);

    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = '\0';
    if (len == 0 || line[0] == '#') return CLG_OK;
    snprintf(where, sizeof where, "%s line %d", path, number);
    if (!*seen) {
        *seen = strcmp(line, TUNED_MAGIC) == 0 ? SEEN_MAGIC : 0;
        return *seen ? CLG_OK : clg_error(CLG_ERR_FORMAT, "%s: not a clgan parameter file", where);
    }
    if (!(space = strchr(line, ' ')))
        return clg_error(CLG_ERR_FORMAT, "%s: unknown line \"%s\"", where, line);
    *space = '\0';
    if (strcmp(line, "kernel") == 0) return parse_kernel(space + 1, t, where);
    return parse_device_line(line, space + 1, dev, seen, where);
}

/* The whole file, or NULL with the reason set. */
static char *read_small_file(const char *path, clg_status *s) {
    FILE *f = fopen(path, "rb");
    char *text;
    size_t n;

    if (!f) {
        *s = errno == ENOENT ? clg_error(CLG_ERR_NOT_FOUND, "%s: no tuned parameters", path)
                             : clg_error(CLG_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    text = malloc(TUNED_MAX_BYTES + 1);
    n = text ? fread(text, 1, TUNED_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!text || n > TUNED_MAX_BYTES || memchr(text, '\0', n)) {
        free(text);
        *s = clg_error(CLG_ERR_FORMAT, "%s: too large or not text", path);
        return NULL;
    }
    text[n] = '\0';
    *s = CLG_OK;
    return text;
}

clg_status clg_blas_tuning_load(const clg_device *dev, clg_blas_tuning *out) {
    char path[1100], *text, *save = NULL, *line;
    clg_status s = clg_blas_tuning_path(dev, path, sizeof path);
    int number = 0, seen = 0;

    memset(out, 0, sizeof *out);
    if (s != CLG_OK || !(text = read_small_file(path, &s))) return s;
    for (line = text; s == CLG_OK && line; line = save) {
        save = strchr(line, '\n');
        if (save) *save++ = '\0';
        s = parse_line(line, ++number, &seen, dev, path, out);
    }
    free(text);
    if (s == CLG_OK && seen != SEEN_ALL)
        s = clg_error(CLG_ERR_FORMAT, "%s: no device, vendor and driver lines", path);
    if (s != CLG_OK) memset(out, 0, sizeof *out);
    return s;
}

/* ---- Applying ---- */

clg_status clg_blas_tuning_apply(clg_device *dev, const clg_blas_tuning *tuning) {
    char why[200];
    int applied = 0;

    for (int i = 0; i < tuning->count; i++) {
        const clg_blas_params *p = &tuning->kernels[i];
        CLBlastStatusCode code;

        if (!clg_blas_params_check(p, &dev->info, why, sizeof why)) {
            clg_log(CLG_LOG_INFO, "tuned %s parameters not used: %s", p->kernel, why);
            continue;
        }
        if ((code = clgi_blas_override(dev, p)) != CLBlastSuccess) {
            clg_log(CLG_LOG_WARN, "CLBlast refused tuned parameters for %s (%d)", p->kernel,
                    (int)code);
            continue;
        }
        applied++;
    }
    dev->info.blas_tuned = applied;
    return CLG_OK;
}

int clg_device_tuned(const clg_device *dev) {
    return dev->info.blas_tuned;
}

/*
 * CLBlast launches fixed work-group shapes and fails with CL_INVALID_WORK_ITEM_SIZE
 * on a device that allows fewer items (PoCL with POCL_MAX_WORK_GROUP_SIZE, some
 * embedded GPUs). There, use parameters that need one item per group.
 */
static void configure_small_groups(clg_device *dev) {
    size_t count = sizeof single_item_params / sizeof single_item_params[0];

    for (size_t i = 0; i < count; i++) {
        CLBlastStatusCode code = clgi_blas_override(dev, &single_item_params[i]);
        if (code != CLBlastSuccess)
            clg_log(CLG_LOG_WARN, "CLBlast refused parameters for %s (%d)",
                    single_item_params[i].kernel, (int)code);
    }
    clg_log(CLG_LOG_INFO, "work-groups limited to %zu items: CLBlast uses single-item kernels",
            dev->info.max_work_group_size);
}

/* Apply the stored tuned parameters, unless CLGAN_TUNED=0; a damaged file is only a warning. */
static void configure_tuned(clg_device *dev) {
    const char *off = getenv("CLGAN_TUNED");
    clg_blas_tuning tuning;
    char path[1100];

    if ((off && strcmp(off, "0") == 0) || !dev->cache_dir[0]) return;
    if (clg_blas_tuning_path(dev, path, sizeof path) != CLG_OK || access(path, F_OK) != 0) return;
    if (clg_blas_tuning_load(dev, &tuning) != CLG_OK) {
        clg_log(CLG_LOG_WARN, "ignoring tuned GEMM parameters: %s; CLBlast's defaults are used",
                clg_last_error());
        return;
    }
    clg_blas_tuning_apply(dev, &tuning);
}

void clgi_blas_configure(clg_device *dev) {
    dev->info.blas_tuned = 0;
    if (dev->info.max_work_group_size < CLBLAST_DEFAULT_GROUP) configure_small_groups(dev);
    configure_tuned(dev);
}

/* A set the device can always run, for a kernel whose tuning candidates all failed. */
const clg_blas_params *clgi_blas_single_item(const char *kernel);

const clg_blas_params *clgi_blas_single_item(const char *kernel) {
    for (size_t i = 0; i < sizeof single_item_params / sizeof single_item_params[0]; i++)
        if (strcmp(single_item_params[i].kernel, kernel) == 0) return &single_item_params[i];
    return NULL;
}
