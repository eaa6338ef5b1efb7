/* clgan: CycleGAN and neural style transfer on any OpenCL device. Include this for everything. */
#ifndef CLGAN_H
#define CLGAN_H

#include "clgan/status.h"
#include "clgan/device.h"
#include "clgan/tensor.h"
#include "clgan/blas.h"
#include "clgan/ops.h"
#include "clgan/rng.h"
#include "clgan/safetensors.h"
#include "clgan/image.h"
#include "clgan/dataset.h"
#include "clgan/image_pool.h"
#include "clgan/autograd.h"
#include "clgan/nn.h"
#include "clgan/models.h"
#include "clgan/tune.h"
#include "clgan/cyclegan_options.h"
#include "clgan/report.h"
#include "clgan/train.h"
#include "clgan/style.h"

#endif
