/* Training records for CycleGAN: the loss log, the HTML report, the progress line, file helpers. */
#ifndef CLGAN_REPORT_H
#define CLGAN_REPORT_H

/*
 * The host-side bookkeeping of a CycleGAN training run, kept in the
 * experiment folder <checkpoints_dir>/<name> as the reference does:
 *
 * Loss log. <dir>/loss_log.csv has the header
 *   iter,epoch,D_A,G_A,cycle_A,idt_A,D_B,G_B,cycle_B,idt_B
 * and one row per logged iteration. clg_loss_log_open() keeps the rows with
 * iter <= keep_through_iter (pass 0 for a fresh run, the resumed iteration
 * when continuing) and drops the rest, so a resumed run continues the log
 * cleanly; clg_loss_log_append() writes and flushes one row.
 * clg_loss_log_read() reads a log back.
 *
 * Report. clg_report_update() rewrites <dir>/web/index.html atomically: an
 * inline SVG chart of the eight losses against the iteration (at most 1000
 * points per curve: longer logs are averaged in equal runs of rows), then,
 * newest first, one row of images per saved epoch, each image being
 * web/images/epochNNN_<label>.png (NNN the epoch in at least three digits,
 * as the reference names them; the caller writes the PNGs). The page needs
 * no network: no scripts, no web fonts.
 *
 * Progress. clg_progress_format() makes the line printed every print_freq
 * iterations; clg_progress_bar_print() draws a one-line bar that rewrites
 * itself with "\r" (for a terminal only: the caller checks isatty).
 *
 * Files. clg_file_write_atomic() writes a file under a temporary name and
 * renames it into place, so a reader sees the old or the new file, never a
 * partial one; clg_make_dirs() makes a folder and its parents.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The reference's loss names, in its order: D_A G_A cycle_A idt_A D_B G_B cycle_B idt_B. */
#define CLG_CYCLEGAN_LOSSES 8
extern const char *const clg_cyclegan_loss_names[CLG_CYCLEGAN_LOSSES];

/* The reference's visuals: real_A fake_B rec_A idt_B real_B fake_A rec_B idt_A. */
#define CLG_CYCLEGAN_VISUALS 8
extern const char *const clg_cyclegan_visual_names[CLG_CYCLEGAN_VISUALS];

/* ---- Files ---- */

/* Make path and any missing parents; an existing folder is fine. */
clg_status clg_make_dirs(const char *path);

/* Write size bytes to path through "<path>.tmp.<pid>", synced and renamed into place. */
clg_status clg_file_write_atomic(const char *path, const void *data, size_t size);

/* ---- Loss log ---- */

typedef struct clg_loss_row {
    int64_t iter; /* iterations so far, counted as the reference's total_iters */
    int epoch;
    float loss[CLG_CYCLEGAN_LOSSES]; /* in clg_cyclegan_loss_names order */
} clg_loss_row;

typedef struct clg_loss_log clg_loss_log;

/*
 * Open path for appending, keeping the rows with iter <= keep_through_iter
 * and dropping the others (the file is rewritten atomically when rows are
 * dropped). A missing file is created with the header. A file whose header
 * or rows do not parse is CLG_ERR_FORMAT naming the line.
 */
clg_status clg_loss_log_open(const char *path, int64_t keep_through_iter, clg_loss_log **out);

/* Append one row and flush it to the file. */
clg_status clg_loss_log_append(clg_loss_log *log, const clg_loss_row *row);

void clg_loss_log_close(clg_loss_log *log);

/* Every row of the log at path, in file order, into a malloc'd array (release with free()). */
clg_status clg_loss_log_read(const char *path, clg_loss_row **rows, size_t *count);

/* ---- Report ---- */

typedef struct clg_report {
    const char *title;        /* the experiment's name, shown as the heading */
    const clg_loss_row *rows; /* the loss log (may be empty) */
    size_t row_count;
    const int *epochs; /* epochs with saved images; NULL: those found in web/images */
    size_t epoch_count;
    const char *const *labels; /* images per epoch; NULL: clg_cyclegan_visual_names */
    size_t label_count;
    int image_width; /* pixels on the page; 0: 256 */
} clg_report;

/* Rewrite <experiment_dir>/web/index.html (making web/ and web/images/ if needed). */
clg_status clg_report_update(const char *experiment_dir, const clg_report *report);

/* ---- Progress ---- */

/*
 * "(epoch: 3, iters: 400, 12.3 img/s, time left 0:12:34) D_A: 0.251 G_A: 0.612 ..."
 * with the eight losses to three decimals; seconds_left < 0 prints "time left ?".
 * Returns what snprintf would: the full length, even when it was cut to fit size.
 */
int clg_progress_format(char *buf, size_t size, int epoch, int64_t iters, double images_per_second,
                        double seconds_left, const float losses[CLG_CYCLEGAN_LOSSES]);

/* Seconds as "h:mm:ss" ("?" when negative or not finite). */
void clg_format_duration(double seconds, char *buf, size_t size);

/*
 * "\r[#######.......]  47% 470/1000 text\033[K", cut to fit columns so the
 * terminal never wraps it. total 0 shows no bar. Returns the length written.
 */
int clg_progress_bar_format(char *buf, size_t size, int columns, int64_t done, int64_t total,
                            const char *text);

/* Format the bar as above into out and flush it. */
void clg_progress_bar_print(FILE *out, int columns, int64_t done, int64_t total, const char *text);

/* Erase the bar's line, so that ordinary output can follow. */
void clg_progress_bar_clear(FILE *out);

#ifdef __cplusplus
}
#endif

#endif
