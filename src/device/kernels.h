/* The table of kernel sources embedded from cl/ at build time. */
#ifndef CLGAN_DEVICE_KERNELS_H
#define CLGAN_DEVICE_KERNELS_H

typedef struct clgi_kernel_source {
    const char *name; /* file name in cl/, such as "conv.cl" */
    const char *text;
} clgi_kernel_source;

/* Terminated by an entry whose name is NULL. */
extern const clgi_kernel_source clgi_kernel_sources[];

#endif
