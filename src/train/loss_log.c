/* The CycleGAN loss log: a CSV file of the eight losses, one row per logged iteration. */
#include "clgan/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const clg_cyclegan_loss_names[CLG_CYCLEGAN_LOSSES] = {"D_A", "G_A", "cycle_A", "idt_A",
                                                                  "D_B", "G_B", "cycle_B", "idt_B"};

struct clg_loss_log {
    FILE *file;
    char *path;
};

/* A growing array of rows. */
typedef struct row_list {
    clg_loss_row *rows;
    size_t count, capacity;
} row_list;

static void write_header(FILE *f) {
    fputs("iter,epoch", f);
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) fprintf(f, ",%s", clg_cyclegan_loss_names[k]);
    fputc('\n', f);
}

static void write_row(FILE *f, const clg_loss_row *row) {
    fprintf(f, "%" PRId64 ",%d", row->iter, row->epoch);
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) fprintf(f, ",%.9g", row->loss[k]);
    fputc('\n', f);
}

/* Strip a trailing newline (and a carriage return before it). */
static void chomp(char *line) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
}

static int header_matches(const char *line) {
    const char *p = line;
    size_t n = strlen("iter,epoch");

    if (strncmp(p, "iter,epoch", n)) return 0;
    p += n;
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) {
        size_t len = strlen(clg_cyclegan_loss_names[k]);
        if (*p++ != ',' || strncmp(p, clg_cyclegan_loss_names[k], len)) return 0;
        p += len;
    }
    return *p == '\0';
}

/* Parse "iter,epoch,l0,...,l7"; 0 on success. */
static int parse_row(const char *line, clg_loss_row *row) {
    char *end;
    long epoch;

    errno = 0;
    row->iter = strtoll(line, &end, 10);
    if (end == line || *end != ',' || errno == ERANGE) return -1;
    line = end + 1;
    epoch = strtol(line, &end, 10);
    if (end == line || epoch < -1000000000L || epoch > 1000000000L) return -1;
    row->epoch = (int)epoch;
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) {
        if (*end != ',') return -1;
        line = end + 1;
        row->loss[k] = strtof(line, &end);
        if (end == line) return -1;
    }
    return *end == '\0' ? 0 : -1;
}

static int push_row(row_list *list, const clg_loss_row *row) {
    if (list->count == list->capacity) {
        size_t cap = list->capacity ? 2 * list->capacity : 256;
        clg_loss_row *grown = realloc(list->rows, cap * sizeof *grown);
        if (!grown) return -1;
        list->rows = grown;
        list->capacity = cap;
    }
    list->rows[list->count++] = *row;
    return 0;
}

/* One line of the file: the header on line 1, a row (or nothing) after it. */
static clg_status take_line(const char *path, char *line, size_t number, row_list *list) {
    clg_loss_row row;

    chomp(line);
    if (number == 1) {
        if (header_matches(line)) return CLG_OK;
        return clg_error(CLG_ERR_FORMAT, "%s: line 1 is not the loss log header", path);
    }
    if (line[0] == '\0') return CLG_OK;
    if (parse_row(line, &row))
        return clg_error(CLG_ERR_FORMAT, "%s: line %zu is not a row of losses: '%.80s'", path,
                         number, line);
    if (push_row(list, &row))
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory for the rows", path);
    return CLG_OK;
}

/* Read every row; *empty tells whether the file had no header at all. */
static clg_status read_rows(FILE *f, const char *path, row_list *list, int *empty) {
    char *line = NULL;
    size_t cap = 0, number = 0;
    clg_status s = CLG_OK;

    while (s == CLG_OK && getline(&line, &cap, f) >= 0) s = take_line(path, line, ++number, list);
    if (s == CLG_OK && ferror(f)) s = clg_error(CLG_ERR_IO, "%s: cannot read it", path);
    free(line);
    *empty = number == 0;
    return s;
}

clg_status clg_loss_log_read(const char *path, clg_loss_row **rows, size_t *count) {
    row_list list = {0};
    int empty;
    FILE *f;
    clg_status s;

    if (!path || !rows || !count)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_loss_log_read: an argument is NULL");
    f = fopen(path, "r");
    if (!f)
        return clg_error(errno == ENOENT ? CLG_ERR_NOT_FOUND : CLG_ERR_IO, "%s: cannot open: %s",
                         path, strerror(errno));
    s = read_rows(f, path, &list, &empty);
    fclose(f);
    if (s != CLG_OK) {
        free(list.rows);
        return s;
    }
    *rows = list.rows;
    *count = list.count;
    return CLG_OK;
}

/* Replace the file with the header and the given rows. */
static clg_status rewrite(const char *path, const clg_loss_row *rows, size_t count) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    clg_status s;

    if (!f) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory to rewrite it", path);
    write_header(f);
    for (size_t i = 0; i < count; i++) write_row(f, &rows[i]);
    if (fclose(f)) {
        free(text);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory to rewrite it", path);
    }
    s = clg_file_write_atomic(path, text, size);
    free(text);
    return s;
}

/* Drop rows past keep_through_iter; rewrite the file when anything changes or it is new. */
static clg_status prepare_file(const char *path, int64_t keep_through_iter) {
    row_list list = {0};
    int empty = 1;
    size_t kept = 0;
    clg_status s = CLG_OK;
    FILE *f = fopen(path, "r");

    if (!f && errno != ENOENT)
        return clg_error(CLG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (f) {
        s = read_rows(f, path, &list, &empty);
        fclose(f);
    }
    for (size_t i = 0; s == CLG_OK && i < list.count; i++)
        if (list.rows[i].iter <= keep_through_iter) list.rows[kept++] = list.rows[i];
    if (s == CLG_OK && (empty || kept != list.count)) s = rewrite(path, list.rows, kept);
    free(list.rows);
    return s;
}

clg_status clg_loss_log_open(const char *path, int64_t keep_through_iter, clg_loss_log **out) {
    clg_loss_log *log;
    clg_status s;

    if (!path || !out)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_loss_log_open: path or out is NULL");
    s = prepare_file(path, keep_through_iter);
    if (s != CLG_OK) return s;

    log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory for the log", path);
    }
    log->file = fopen(path, "a");
    if (!log->file) {
        s = clg_error(CLG_ERR_IO, "%s: cannot open for appending: %s", path, strerror(errno));
        clg_loss_log_close(log);
        return s;
    }
    *out = log;
    return CLG_OK;
}

clg_status clg_loss_log_append(clg_loss_log *log, const clg_loss_row *row) {
    if (!log || !row)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_loss_log_append: log or row is NULL");
    write_row(log->file, row);
    if (fflush(log->file) || ferror(log->file))
        return clg_error(CLG_ERR_IO, "%s: cannot write a row: %s", log->path, strerror(errno));
    return CLG_OK;
}

void clg_loss_log_close(clg_loss_log *log) {
    if (!log) return;
    if (log->file) fclose(log->file);
    free(log->path);
    free(log);
}
