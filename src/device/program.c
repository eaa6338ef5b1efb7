/* Kernel programs: embedded sources, lazy builds per device, and the on-disk binary cache. */
#include "device/internal.h"
#include "device/kernels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "CLGANBIN"
#define CACHE_FORMAT_VERSION 1u
#define COMMON_HEADER "common.clh"

/* ---- Sources ---- */

static const char *embedded_source(const char *file) {
    for (const clgi_kernel_source *s = clgi_kernel_sources; s->name; s++)
        if (strcmp(s->name, file) == 0) return s->text;
    return NULL;
}

/* Read a whole file into a new NUL-terminated string, or NULL. */
static char *read_text_file(const char *path) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long size;

    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        text = malloc((size_t)size + 1);
        if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
            free(text);
            text = NULL;
        }
        if (text) text[size] = '\0';
    }
    fclose(f);
    return text;
}

/* The text of cl/<file>: from CLGAN_KERNEL_DIR when set (for development), else embedded. */
static clg_status load_source(const char *file, char **out) {
    const char *dir = getenv("CLGAN_KERNEL_DIR");
    const char *text;

    if (dir && *dir) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        *out = read_text_file(path);
        if (*out) return CLG_OK;
        return clg_error(CLG_ERR_IO, "%s: cannot read kernel source (CLGAN_KERNEL_DIR is set): %s",
                         path, strerror(errno));
    }
    text = embedded_source(file);
    if (!text) return clg_error(CLG_ERR_NOT_FOUND, "no kernel source named %s is built in", file);
    *out = strdup(text);
    return *out ? CLG_OK : clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of memory");
}

/* The program text: cl/common.clh followed by cl/<file>, with #line markers. */
static clg_status program_text(const char *file, char **out) {
    char *common = NULL, *body = NULL;
    clg_status s = load_source(COMMON_HEADER, &common);
    size_t size;

    if (s == CLG_OK) s = load_source(file, &body);
    if (s == CLG_OK) {
        size = strlen(common) + strlen(body) + 64;
        *out = malloc(size);
        if (*out) snprintf(*out, size, "%s\n#line 1\n%s", common, body);
        else s = clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of memory");
    }
    free(common);
    free(body);
    return s;
}

/* ---- Cache keys and files ---- */

static uint64_t fnv1a(uint64_t h, const char *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)data[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t fnv1a_str(uint64_t h, const char *s) {
    return fnv1a(fnv1a(h, s, strlen(s)), "\0", 1);
}

static uint64_t cache_key(const clg_device *dev, const char *text) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv1a_str(h, dev->info.platform);
    h = fnv1a_str(h, dev->info.name);
    h = fnv1a_str(h, dev->info.vendor);
    h = fnv1a_str(h, dev->info.driver_version);
    h = fnv1a_str(h, dev->build_options);
    return fnv1a_str(h, text);
}

static int make_dirs(const char *path) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Decide the cache folder from CLGAN_CACHE, CLGAN_CACHE_DIR, XDG_CACHE_HOME and HOME. */
clg_status clgi_cache_init(clg_device *dev) {
    const char *off = getenv("CLGAN_CACHE");
    const char *dir = getenv("CLGAN_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");

    dev->cache_dir[0] = '\0';
    if (off && strcmp(off, "0") == 0) return CLG_OK;
    if (dir && *dir) snprintf(dev->cache_dir, sizeof dev->cache_dir, "%s", dir);
    else if (xdg && *xdg) snprintf(dev->cache_dir, sizeof dev->cache_dir, "%s/clgan", xdg);
    else if (home && *home) snprintf(dev->cache_dir, sizeof dev->cache_dir, "%s/.cache/clgan", home);
    else return CLG_OK;

    if (make_dirs(dev->cache_dir) != 0) {
        clg_log(CLG_LOG_WARN, "program cache off: cannot create %s: %s", dev->cache_dir,
                strerror(errno));
        dev->cache_dir[0] = '\0';
    }
    return CLG_OK;
}

static void cache_path(const clg_device *dev, uint64_t key, const char *file, char *path,
                       size_t size) {
    snprintf(path, size, "%s/%016llx-%s.bin", dev->cache_dir, (unsigned long long)key, file);
}

/* Read a cached binary: magic, version, key, size, checksum, bytes. NULL when absent or damaged. */
static unsigned char *cache_read(const char *path, uint64_t key, size_t *size) {
    FILE *f = fopen(path, "rb");
    char magic[8];
    uint32_t version = 0;
    uint64_t stored_key = 0, stored_size = 0, checksum = 0;
    unsigned char *data = NULL;

    if (!f) return NULL;
    if (fread(magic, 1, 8, f) == 8 && memcmp(magic, CACHE_MAGIC, 8) == 0 &&
        fread(&version, sizeof version, 1, f) == 1 && version == CACHE_FORMAT_VERSION &&
        fread(&stored_key, sizeof stored_key, 1, f) == 1 && stored_key == key &&
        fread(&stored_size, sizeof stored_size, 1, f) == 1 && stored_size > 0 &&
        stored_size < (1ull << 31) && fread(&checksum, sizeof checksum, 1, f) == 1) {
        data = malloc(stored_size);
        if (data && (fread(data, 1, stored_size, f) != stored_size ||
                     fnv1a(0xcbf29ce484222325ull, (const char *)data, stored_size) != checksum)) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    *size = (size_t)stored_size;
    return data;
}

/* Write a binary to a temporary name, then rename: readers never see a partial entry. */
static void cache_write(const char *path, uint64_t key, const unsigned char *data, size_t size) {
    char tmp[1200];
    uint32_t version = CACHE_FORMAT_VERSION;
    uint64_t size64 = size;
    uint64_t checksum = fnv1a(0xcbf29ce484222325ull, (const char *)data, size);
    FILE *f;
    int ok;

    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) return;
    ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&version, sizeof version, 1, f) == 1 &&
         fwrite(&key, sizeof key, 1, f) == 1 && fwrite(&size64, sizeof size64, 1, f) == 1 &&
         fwrite(&checksum, sizeof checksum, 1, f) == 1 && fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        clg_log(CLG_LOG_WARN, "cannot write program cache entry %s", path);
    }
}

/* ---- Building ---- */

static clg_status build_log_error(clg_device *dev, cl_program program, const char *file,
                                  cl_int err) {
    size_t size = 0;
    char *log;
    clg_status s;

    clGetProgramBuildInfo(program, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &size);
    log = malloc(size + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(program, dev->id, CL_PROGRAM_BUILD_LOG, size, log, NULL);
        log[size] = '\0';
    }
    s = clg_error(CLG_ERR_BUILD, "cl/%s failed to build for %s (%s, options \"%s\"):\n%s", file,
                  dev->info.name, clgi_cl_error_name(err), dev->build_options, log ? log : "");
    free(log);
    return s;
}

static cl_program try_cached(clg_device *dev, const char *path, uint64_t key) {
    size_t size = 0;
    unsigned char *binary = cache_read(path, key, &size);
    const unsigned char *bins[1] = {binary};
    cl_int status = CL_SUCCESS, err;
    cl_program program;

    if (!binary) return NULL;
    program = clCreateProgramWithBinary(dev->context, 1, &dev->id, &size, bins, &status, &err);
    free(binary);
    if (err != CL_SUCCESS || status != CL_SUCCESS) return NULL;
    if (clBuildProgram(program, 1, &dev->id, dev->build_options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(program);
        clg_log(CLG_LOG_DEBUG, "damaged cache entry %s is rebuilt", path);
        return NULL;
    }
    return program;
}

static void store_binary(clg_device *dev, cl_program program, const char *path, uint64_t key) {
    size_t size = 0;
    unsigned char *binary;

    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0)
        return;
    binary = malloc(size);
    if (!binary) return;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof binary, &binary, NULL) ==
        CL_SUCCESS)
        cache_write(path, key, binary, size);
    free(binary);
    (void)dev;
}

static clg_status build_program(clg_device *dev, const char *file, cl_program *out) {
    char *text = NULL;
    char path[1200] = "";
    clg_status s = program_text(file, &text);
    uint64_t key;
    cl_int err;
    cl_program program;

    if (s != CLG_OK) return s;
    key = cache_key(dev, text);
    if (dev->cache_dir[0]) {
        cache_path(dev, key, file, path, sizeof path);
        if ((*out = try_cached(dev, path, key)) != NULL) {
            dev->programs_loaded++;
            free(text);
            return CLG_OK;
        }
    }

    program = clCreateProgramWithSource(dev->context, 1, (const char **)&text, NULL, &err);
    free(text);
    if (err != CL_SUCCESS) return clgi_cl_error(err, "clCreateProgramWithSource");
    clg_log(CLG_LOG_DEBUG, "building cl/%s for %s", file, dev->info.name);
    err = clBuildProgram(program, 1, &dev->id, dev->build_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        s = build_log_error(dev, program, file, err);
        clReleaseProgram(program);
        return s;
    }
    dev->programs_built++;
    if (path[0]) store_binary(dev, program, path, key);
    *out = program;
    return CLG_OK;
}

/* ---- Lookup ---- */

static clg_status find_program(clg_device *dev, const char *file, clgi_program_entry **out) {
    clgi_program_entry *grown;
    cl_program program;
    clg_status s;

    for (int i = 0; i < dev->program_count; i++) {
        if (strcmp(dev->programs[i].file, file) == 0) {
            *out = &dev->programs[i];
            return CLG_OK;
        }
    }
    if ((s = build_program(dev, file, &program)) != CLG_OK) return s;
    grown = realloc(dev->programs, (size_t)(dev->program_count + 1) * sizeof *grown);
    if (!grown) {
        clReleaseProgram(program);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of memory");
    }
    dev->programs = grown;
    *out = &dev->programs[dev->program_count++];
    memset(*out, 0, sizeof **out);
    snprintf((*out)->file, sizeof (*out)->file, "%s", file);
    (*out)->program = program;
    return CLG_OK;
}

static clg_status create_kernel(clg_device *dev, clgi_program_entry *prog, const char *name,
                                clgi_kernel_entry **out) {
    cl_int err;
    cl_kernel kernel = clCreateKernel(prog->program, name, &err);
    size_t kernel_limit = 0;
    clgi_kernel_entry **grown, *entry;

    if (err != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "clCreateKernel(%s in cl/%s)", name, prog->file);
        return clgi_cl_error(err, what);
    }
    entry = calloc(1, sizeof *entry);
    grown = realloc(prog->kernels, (size_t)(prog->kernel_count + 1) * sizeof *grown);
    if (grown) prog->kernels = grown;
    if (!entry || !grown) {
        free(entry);
        clReleaseKernel(kernel);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of memory");
    }
    prog->kernels[prog->kernel_count++] = entry;
    snprintf(entry->name, sizeof entry->name, "%s", name);
    entry->kernel = kernel;
    clGetKernelWorkGroupInfo(kernel, dev->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kernel_limit,
                             &kernel_limit, NULL);
    entry->max_local = dev->info.max_work_group_size;
    if (kernel_limit > 0 && kernel_limit < entry->max_local) entry->max_local = kernel_limit;
    *out = entry;
    return CLG_OK;
}

clg_status clgi_kernel(clg_device *dev, const char *file, const char *name,
                       clgi_kernel_entry **out) {
    clgi_program_entry *prog = NULL;
    clg_status s = find_program(dev, file, &prog);

    if (s != CLG_OK) return s;
    for (int i = 0; i < prog->kernel_count; i++) {
        if (strcmp(prog->kernels[i]->name, name) == 0) {
            *out = prog->kernels[i];
            return CLG_OK;
        }
    }
    return create_kernel(dev, prog, name, out);
}

void clgi_programs_release(clg_device *dev) {
    for (int i = 0; i < dev->program_count; i++) {
        for (int k = 0; k < dev->programs[i].kernel_count; k++) {
            clReleaseKernel(dev->programs[i].kernels[k]->kernel);
            free(dev->programs[i].kernels[k]);
        }
        free(dev->programs[i].kernels);
        clReleaseProgram(dev->programs[i].program);
    }
    free(dev->programs);
    dev->programs = NULL;
    dev->program_count = 0;
}
