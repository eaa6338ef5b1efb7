/* Opt-in OpenCL interoperation: wrap a caller's context and queue, reach a tensor's buffer. */
#ifndef CLGAN_OPENCL_H
#define CLGAN_OPENCL_H

/*
 * Include this header only when your application handles OpenCL objects
 * itself. clg_device_wrap() builds a clg_device on a context, device and
 * in-order queue that you own: clgan retains nothing beyond its own use and
 * never releases them. clg_tensor_buffer() gives a tensor's cl_mem and the
 * offset, in floats, at which its data begins.
 */

#include <CL/cl.h>

#include "clgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

clg_status clg_device_wrap(cl_context context, cl_device_id device, cl_command_queue queue,
                           clg_device **out);

cl_context clg_device_context(const clg_device *device);
cl_command_queue clg_device_queue(const clg_device *device);
cl_device_id clg_device_id(const clg_device *device);

cl_mem clg_tensor_buffer(const clg_tensor *tensor, size_t *offset);

#ifdef __cplusplus
}
#endif

#endif
