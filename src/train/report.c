/* The training report page (loss chart and saved images), progress lines, and file helpers. */
#include "clgan/report.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const clg_cyclegan_visual_names[CLG_CYCLEGAN_VISUALS] = {
    "real_A", "fake_B", "rec_A", "idt_B", "real_B", "fake_A", "rec_B", "idt_A"};

/* The chart: plot area at (LEFT, TOP) of PLOT_W x PLOT_H inside a CHART_W x CHART_H picture. */
enum {
    CHART_W = 960,
    CHART_H = 380,
    LEFT = 64,
    TOP = 16,
    PLOT_W = 876,
    PLOT_H = 290,
    MAX_POINTS = 1000,
    TICKS = 5
};

/* One colour per kind of loss; the A side is drawn solid, the B side dashed. */
static const char *const loss_colours[CLG_CYCLEGAN_LOSSES / 2] = {"#1565c0", "#c62828", "#2e7d32",
                                                                  "#ef6c00"};

/* ---- Files ---- */

clg_status clg_make_dirs(const char *path) {
    char *copy;
    struct stat st;

    if (!path || !*path) return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_make_dirs: no path");
    copy = strdup(path);
    if (!copy) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(copy, 0777);
        *p = '/';
    }
    mkdir(copy, 0777);
    free(copy);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return clg_error(CLG_ERR_IO, "%s: cannot make the folder: %s", path, strerror(errno));
    return CLG_OK;
}

static int write_synced(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    int failed;

    if (!f) return -1;
    failed = fwrite(data, 1, size, f) != size || fflush(f) || fsync(fileno(f));
    return fclose(f) || failed ? -1 : 0;
}

clg_status clg_file_write_atomic(const char *path, const void *data, size_t size) {
    size_t n;
    char *tmp;
    clg_status s = CLG_OK;

    if (!path || (!data && size))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_file_write_atomic: path or data is NULL");
    n = strlen(path) + 32;
    tmp = malloc(n);
    if (!tmp) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());

    if (write_synced(tmp, data, size))
        s = clg_error(CLG_ERR_IO, "%s: cannot write '%s': %s", path, tmp, strerror(errno));
    else if (rename(tmp, path))
        s = clg_error(CLG_ERR_IO, "%s: cannot rename '%s' over it: %s", path, tmp, strerror(errno));
    if (s != CLG_OK) unlink(tmp);
    free(tmp);
    return s;
}

/* ---- The loss chart ---- */

/* A chart point: the mean iteration and mean losses of a run of rows. */
typedef struct point {
    double x;
    double y[CLG_CYCLEGAN_LOSSES];
    int has[CLG_CYCLEGAN_LOSSES]; /* the run had a finite value of this loss */
} point;

typedef struct range {
    double lo, hi;
} range;

/* Average rows [begin, end) into one point, skipping values that are not finite. */
static point average_rows(const clg_loss_row *rows, size_t begin, size_t end) {
    point p = {0};
    int n[CLG_CYCLEGAN_LOSSES] = {0};

    for (size_t i = begin; i < end; i++) {
        p.x += (double)rows[i].iter;
        for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) {
            if (!isfinite(rows[i].loss[k])) continue;
            p.y[k] += rows[i].loss[k];
            n[k]++;
        }
    }
    p.x /= (double)(end - begin);
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) {
        p.has[k] = n[k] > 0;
        if (n[k]) p.y[k] /= n[k];
    }
    return p;
}

/* At most MAX_POINTS points: runs of rows of (nearly) equal length, averaged. */
static point *chart_points(const clg_loss_row *rows, size_t count, size_t *points) {
    size_t m = count < MAX_POINTS ? count : MAX_POINTS;
    point *p = malloc((m ? m : 1) * sizeof *p);

    if (!p) return NULL;
    for (size_t j = 0; j < m; j++) p[j] = average_rows(rows, j * count / m, (j + 1) * count / m);
    *points = m;
    return p;
}

/* 1, 2 or 5 times a power of ten, near range / TICKS. */
static double tick_step(double span) {
    double raw = span / TICKS, unit = pow(10.0, floor(log10(raw))), m = raw / unit;
    return (m <= 1.0 ? 1.0 : m <= 2.0 ? 2.0 : m <= 5.0 ? 5.0 : 10.0) * unit;
}

static void chart_ranges(const point *p, size_t m, range *x, range *y) {
    double step;

    /* Iterations count from 0; a log that starts later still shows its distance from 0. */
    *x = (range){m && p[0].x < 0.0 ? p[0].x : 0.0, m ? p[m - 1].x : 1.0};
    *y = (range){0.0, 0.0};
    for (size_t j = 0; j < m; j++) {
        for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) {
            if (!p[j].has[k]) continue;
            if (p[j].y[k] < y->lo) y->lo = p[j].y[k];
            if (p[j].y[k] > y->hi) y->hi = p[j].y[k];
        }
    }
    if (x->hi <= x->lo) x->hi = x->lo + 1.0;
    if (y->hi <= y->lo) y->hi = y->lo + 1.0;
    step = tick_step(y->hi - y->lo);
    y->hi = ceil(y->hi / step) * step;
}

static double to_px(double v, range r) {
    return LEFT + (v - r.lo) / (r.hi - r.lo) * PLOT_W;
}

static double to_py(double v, range r) {
    return TOP + PLOT_H - (v - r.lo) / (r.hi - r.lo) * PLOT_H;
}

static void write_axes(FILE *f, range x, range y) {
    double step = tick_step(x.hi - x.lo);

    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
            LEFT, TOP, PLOT_W, PLOT_H);
    for (double v = ceil(x.lo / step) * step; v <= x.hi + 1e-9 * step; v += step)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.10g</text>\n",
                to_px(v, x), TOP, to_px(v, x), TOP + PLOT_H, to_px(v, x), TOP + PLOT_H + 16, v);
    step = tick_step(y.hi - y.lo);
    for (double v = ceil(y.lo / step) * step; v <= y.hi + 1e-9 * step; v += step)
        fprintf(f,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.6g</text>\n",
                LEFT, to_py(v, y), LEFT + PLOT_W, to_py(v, y), LEFT - 6, to_py(v, y) + 4, v);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">iteration</text>\n",
            LEFT + PLOT_W / 2, TOP + PLOT_H + 34);
}

static void write_stroke(FILE *f, int k) {
    fprintf(f, "fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s",
            loss_colours[k % (CLG_CYCLEGAN_LOSSES / 2)],
            k < CLG_CYCLEGAN_LOSSES / 2 ? "" : " stroke-dasharray=\"6 3\"");
}

static void write_curve(FILE *f, const point *p, size_t m, int k, range x, range y) {
    fprintf(f, "<polyline data-loss=\"%s\" ", clg_cyclegan_loss_names[k]);
    write_stroke(f, k);
    fputs(" points=\"", f);
    for (size_t j = 0; j < m; j++)
        if (p[j].has[k]) fprintf(f, "%.1f,%.1f ", to_px(p[j].x, x), to_py(p[j].y[k], y));
    fputs("\"/>\n", f);
}

static void write_legend(FILE *f) {
    int y = TOP + PLOT_H + 58, w = PLOT_W / CLG_CYCLEGAN_LOSSES;

    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) {
        int x = LEFT + k * w;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" ", x, y - 4, x + 24, y - 4);
        write_stroke(f, k);
        fprintf(f, "/><text x=\"%d\" y=\"%d\">%s</text>\n", x + 30, y, clg_cyclegan_loss_names[k]);
    }
}

static int write_chart(FILE *f, const clg_loss_row *rows, size_t count) {
    size_t m = 0;
    point *p = chart_points(rows, count, &m);
    range x, y;

    if (!p) return -1;
    chart_ranges(p, m, &x, &y);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            CHART_W, CHART_H, CHART_W, CHART_H);
    write_axes(f, x, y);
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) write_curve(f, p, m, k, x, y);
    write_legend(f);
    fputs("</svg>\n", f);
    free(p);
    return 0;
}

/* ---- The page ---- */

static void write_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void write_head(FILE *f, const char *title) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"refresh\" content=\"60\">\n<title>",
          f);
    write_escaped(f, title);
    fputs(" - clgan</title>\n<style>\nbody { font-family: sans-serif; margin: 1em 2em; }\n"
          "table { border-collapse: collapse; }\n"
          "td { padding: 4px; text-align: center; font-size: small; vertical-align: top; }\n"
          "img { display: block; image-rendering: auto; }\n</style>\n</head>\n<body>\n<h1>",
          f);
    write_escaped(f, title);
    fputs("</h1>\n", f);
}

static void write_summary(FILE *f, const clg_loss_row *rows, size_t count) {
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;

    if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(f, "<p>Updated %s.", when);
    if (count)
        fprintf(f, " Epoch %d, iteration %" PRId64 ", %zu logged rows.", rows[count - 1].epoch,
                rows[count - 1].iter, count);
    fputs("</p>\n<h2>Losses</h2>\n", f);
}

/* Images per table row: real, fake, reconstructed, identity of one side. */
#define IMAGES_PER_ROW 4

static void write_image_row(FILE *f, int epoch, const clg_report *r, const char *const *labels,
                            size_t n) {
    int width = r->image_width > 0 ? r->image_width : 256;

    fprintf(f, "<h3>epoch %d</h3>\n<table><tr>\n", epoch);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && i % IMAGES_PER_ROW == 0) fputs("</tr><tr>\n", f); /* the A side, then B */
        fprintf(f, "<td><a href=\"images/epoch%03d_", epoch);
        write_escaped(f, labels[i]);
        fprintf(f, ".png\"><img src=\"images/epoch%03d_", epoch);
        write_escaped(f, labels[i]);
        fprintf(f, ".png\" width=\"%d\" alt=\"", width);
        write_escaped(f, labels[i]);
        fputs("\"></a>", f);
        write_escaped(f, labels[i]);
        fputs("</td>\n", f);
    }
    fputs("</tr></table>\n", f);
}

static int descending(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

/* Sort newest first and drop repeats; returns the new count. */
static size_t sort_epochs(int *e, size_t n) {
    size_t m = 0;

    qsort(e, n, sizeof *e, descending);
    for (size_t i = 0; i < n; i++)
        if (m == 0 || e[m - 1] != e[i]) e[m++] = e[i];
    return m;
}

/* Does name read "epoch<N>_<label>.png"? Then *epoch = N. */
static int image_epoch(const char *name, const char *label, int *epoch) {
    int used = 0;
    size_t len = strlen(label);

    if (sscanf(name, "epoch%d_%n", epoch, &used) != 1 || used == 0) return 0;
    return strncmp(name + used, label, len) == 0 && strcmp(name + used + len, ".png") == 0;
}

/* The epochs that have a first-label image in images_dir. */
static clg_status scan_epochs(const char *images_dir, const char *label, int **out, size_t *n) {
    DIR *d = opendir(images_dir);
    struct dirent *ent;
    size_t cap = 0;
    int epoch;

    *out = NULL;
    *n = 0;
    if (!d) return CLG_OK;
    while ((ent = readdir(d))) {
        if (!image_epoch(ent->d_name, label, &epoch)) continue;
        if (*n == cap) {
            int *grown = realloc(*out, (cap = cap ? 2 * cap : 64) * sizeof *grown);
            if (!grown) {
                closedir(d);
                return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", images_dir);
            }
            *out = grown;
        }
        (*out)[(*n)++] = epoch;
    }
    closedir(d);
    return CLG_OK;
}

/* The epochs to show, newest first, in a malloc'd array. */
static clg_status report_epochs(const clg_report *r, const char *images_dir, const char *label,
                                int **epochs, size_t *n) {
    clg_status s = CLG_OK;

    if (r->epochs) {
        *n = r->epoch_count;
        *epochs = malloc((*n ? *n : 1) * sizeof **epochs);
        if (!*epochs) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory for the epochs");
        memcpy(*epochs, r->epochs, *n * sizeof **epochs);
    } else {
        s = scan_epochs(images_dir, label, epochs, n);
    }
    if (s == CLG_OK) *n = sort_epochs(*epochs, *n);
    return s;
}

static int write_page(FILE *f, const clg_report *r, const int *epochs, size_t n_epochs) {
    const char *const *labels = r->labels ? r->labels : clg_cyclegan_visual_names;
    size_t n_labels = r->labels ? r->label_count : CLG_CYCLEGAN_VISUALS;

    write_head(f, r->title ? r->title : "clgan");
    write_summary(f, r->rows, r->rows ? r->row_count : 0);
    if (write_chart(f, r->rows, r->rows ? r->row_count : 0)) return -1;
    fputs("<h2>Images</h2>\n", f);
    if (n_epochs == 0) fputs("<p>No images saved yet.</p>\n", f);
    for (size_t i = 0; i < n_epochs; i++) write_image_row(f, epochs[i], r, labels, n_labels);
    fputs("</body>\n</html>\n", f);
    return 0;
}

/* Render the page into memory, then write it atomically. */
static clg_status render(const char *path, const clg_report *r, const int *epochs, size_t n) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    int failed;
    clg_status s;

    if (!f) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory for the page", path);
    failed = write_page(f, r, epochs, n);
    if (fclose(f) || failed) {
        free(text);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory for the page", path);
    }
    s = clg_file_write_atomic(path, text, size);
    free(text);
    return s;
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

clg_status clg_report_update(const char *experiment_dir, const clg_report *report) {
    char *images = NULL, *page = NULL;
    int *epochs = NULL;
    size_t n = 0;
    const char *first;
    clg_status s;

    if (!experiment_dir || !report || (report->labels && report->label_count == 0))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_report_update: bad arguments");
    first = report->labels ? report->labels[0] : clg_cyclegan_visual_names[0];
    images = join(experiment_dir, "web/images");
    page = join(experiment_dir, "web/index.html");
    if (!images || !page)
        s = clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory for the paths");
    else
        s = clg_make_dirs(images);
    if (s == CLG_OK) s = report_epochs(report, images, first, &epochs, &n);
    if (s == CLG_OK) s = render(page, report, epochs, n);
    free(epochs);
    free(images);
    free(page);
    return s;
}

/* ---- Progress ---- */

/* snprintf at *len into buf, keeping *len the untruncated length. */
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...) {
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf ? buf + (*len < size ? *len : size) : NULL, *len < size ? size - *len : 0,
                  fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n;
}

void clg_format_duration(double seconds, char *buf, size_t size) {
    long long s;

    if (!(seconds >= 0.0) || seconds > 1e15) {
        snprintf(buf, size, "?");
        return;
    }
    s = (long long)(seconds + 0.5);
    snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

int clg_progress_format(char *buf, size_t size, int epoch, int64_t iters, double images_per_second,
                        double seconds_left, const float losses[CLG_CYCLEGAN_LOSSES]) {
    char left[32];
    size_t len = 0;

    if (buf && size) buf[0] = '\0';
    clg_format_duration(seconds_left, left, sizeof left);
    append(buf, size, &len, "(epoch: %d, iters: %" PRId64 ", %.1f img/s, time left %s)", epoch,
           iters, images_per_second, left);
    for (int k = 0; losses && k < CLG_CYCLEGAN_LOSSES; k++)
        append(buf, size, &len, " %s: %.3f", clg_cyclegan_loss_names[k], losses[k]);
    return (int)len;
}

/* The bar and the counts, "[#####.....]  47% 470/1000", for a bar of `width` cells. */
static void format_bar(char *buf, size_t size, size_t *len, int width, int64_t done,
                       int64_t total) {
    double frac = total > 0 ? (double)done / (double)total : 0.0;
    int filled;

    frac = frac < 0.0 ? 0.0 : frac > 1.0 ? 1.0 : frac;
    filled = (int)(frac * width);
    append(buf, size, len, "[");
    for (int i = 0; i < width; i++) append(buf, size, len, i < filled ? "#" : ".");
    append(buf, size, len, "] %3d%% %" PRId64 "/%" PRId64, (int)(frac * 100.0), done, total);
}

int clg_progress_bar_format(char *buf, size_t size, int columns, int64_t done, int64_t total,
                            const char *text) {
    size_t len = 0, room, visible;
    int width = columns / 3 < 30 ? columns / 3 : 30;

    if (!buf || size == 0) return 0;
    buf[0] = '\0';
    append(buf, size, &len, "\r");
    if (total > 0 && width >= 5)
        format_bar(buf, size, &len, width, done, total);
    else
        append(buf, size, &len, "%" PRId64, done);

    /* The text, cut so the whole line stays within columns - 1 cells. */
    visible = len - 1;
    room = columns > 1 && (size_t)columns - 1 > visible + 1 ? (size_t)columns - 2 - visible : 0;
    if (text && *text && room > 0) append(buf, size, &len, " %.*s", (int)room, text);
    append(buf, size, &len, "\033[K");
    return (int)(len < size ? len : size - 1);
}

void clg_progress_bar_print(FILE *out, int columns, int64_t done, int64_t total, const char *text) {
    char line[1024];

    if (columns > (int)sizeof line / 2) columns = (int)sizeof line / 2;
    clg_progress_bar_format(line, sizeof line, columns, done, total, text);
    fputs(line, out);
    fflush(out);
}

void clg_progress_bar_clear(FILE *out) {
    fputs("\r\033[K", out);
    fflush(out);
}
