/* clgan status codes, the thread-local last-error message, and logging. */
#ifndef CLGAN_STATUS_H
#define CLGAN_STATUS_H

/*
 * Every fallible call in clgan returns a clg_status; CLG_OK (0) is success.
 * When a call fails it also leaves a message for the calling thread that
 * says what failed and why: the OpenCL error name and the call, the file and
 * the reason, or the whole build log of a kernel that did not compile.
 * clg_last_error() returns that message until the next failure replaces it.
 *
 * The library is quiet by default. clg_log_set_callback() routes its log
 * lines (device report, cache activity, warnings) to a function of yours;
 * clg_log_set_level() chooses how much is said. clg_log_stderr is a ready
 * callback that prints to standard error.
 */

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clg_status {
    CLG_OK = 0,
    CLG_ERR_INVALID_ARGUMENT, /* a caller's argument is out of range or inconsistent */
    CLG_ERR_OUT_OF_HOST_MEMORY,
    CLG_ERR_OUT_OF_DEVICE_MEMORY, /* allocation failed or exceeds the device's limits */
    CLG_ERR_NO_DEVICE,            /* no OpenCL device, or none matches the selector */
    CLG_ERR_OPENCL,               /* an OpenCL call failed; the message names it */
    CLG_ERR_BUILD,                /* a kernel program failed to compile; message has the log */
    CLG_ERR_BLAS,                 /* CLBlast reported an error */
    CLG_ERR_IO,                   /* a file could not be opened, read or written */
    CLG_ERR_FORMAT,               /* a file's contents are malformed */
    CLG_ERR_SHAPE,                /* tensor shapes do not agree */
    CLG_ERR_UNSUPPORTED,          /* a valid request this build or device cannot serve */
    CLG_ERR_NUMERIC,              /* a value became NaN or infinite */
    CLG_ERR_NOT_FOUND,            /* a named item (tensor, parameter, file) does not exist */
    CLG_STATUS_COUNT_
} clg_status;

/* The status as an upper-case name, such as "CLG_ERR_IO". */
const char *clg_status_name(clg_status status);

/* The calling thread's most recent error message; "" when there is none. */
const char *clg_last_error(void);

/* Forget the calling thread's error message. */
void clg_clear_error(void);

/* Set the calling thread's message and return status, for code layered on clgan. */
clg_status clg_error(clg_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

typedef enum clg_log_level {
    CLG_LOG_ERROR = 0,
    CLG_LOG_WARN,
    CLG_LOG_INFO,
    CLG_LOG_DEBUG
} clg_log_level;

typedef void (*clg_log_fn)(clg_log_level level, const char *message, void *user);

/* Route log lines to fn (NULL silences the library). Messages above level are dropped. */
void clg_log_set_callback(clg_log_fn fn, void *user);
void clg_log_set_level(clg_log_level level);

/* A callback that writes "clgan: <level>: <message>" lines to standard error. */
void clg_log_stderr(clg_log_level level, const char *message, void *user);

/* Emit a log line through the installed callback. */
void clg_log(clg_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif
