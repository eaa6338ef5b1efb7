/* Status names, the thread-local last-error message, and the log callback. */
#include "clgan/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Long enough for a typical kernel build log; longer messages are truncated. */
#define ERROR_CAPACITY 16384

static _Thread_local char last_error[ERROR_CAPACITY];

static clg_log_fn log_fn;
static void *log_user;
static clg_log_level log_level = CLG_LOG_INFO;

static const char *const status_names[CLG_STATUS_COUNT_] = {
    [CLG_OK] = "CLG_OK",
    [CLG_ERR_INVALID_ARGUMENT] = "CLG_ERR_INVALID_ARGUMENT",
    [CLG_ERR_OUT_OF_HOST_MEMORY] = "CLG_ERR_OUT_OF_HOST_MEMORY",
    [CLG_ERR_OUT_OF_DEVICE_MEMORY] = "CLG_ERR_OUT_OF_DEVICE_MEMORY",
    [CLG_ERR_NO_DEVICE] = "CLG_ERR_NO_DEVICE",
    [CLG_ERR_OPENCL] = "CLG_ERR_OPENCL",
    [CLG_ERR_BUILD] = "CLG_ERR_BUILD",
    [CLG_ERR_BLAS] = "CLG_ERR_BLAS",
    [CLG_ERR_IO] = "CLG_ERR_IO",
    [CLG_ERR_FORMAT] = "CLG_ERR_FORMAT",
    [CLG_ERR_SHAPE] = "CLG_ERR_SHAPE",
    [CLG_ERR_UNSUPPORTED] = "CLG_ERR_UNSUPPORTED",
    [CLG_ERR_NUMERIC] = "CLG_ERR_NUMERIC",
    [CLG_ERR_NOT_FOUND] = "CLG_ERR_NOT_FOUND",
};

const char *clg_status_name(clg_status status) {
    if ((unsigned)status >= CLG_STATUS_COUNT_) return "CLG_ERR_UNKNOWN";
    return status_names[status];
}

const char *clg_last_error(void) {
    return last_error;
}

void clg_clear_error(void) {
    last_error[0] = '\0';
}

clg_status clg_error(clg_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    clg_log(CLG_LOG_DEBUG, "%s: %s", clg_status_name(status), last_error);
    return status;
}

void clg_log_set_callback(clg_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

void clg_log_set_level(clg_log_level level) {
    log_level = level;
}

void clg_log_stderr(clg_log_level level, const char *message, void *user) {
    static const char *const names[] = {"error", "warning", "info", "debug"};
    (void)user;
    fprintf(stderr, "clgan: %s: %s\n", names[level], message);
}

void clg_log(clg_log_level level, const char *fmt, ...) {
    char line[2048];
    va_list ap;

    if (!log_fn || level > log_level) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_fn(level, line, log_user);
}
