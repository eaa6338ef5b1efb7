/* Training: the Adam optimiser over modules, and the CycleGAN trainer and translator. */
#ifndef CLGAN_TRAIN_H
#define CLGAN_TRAIN_H

/*
 * clg_adam holds the moments of every parameter of one or more modules and
 * steps them as torch.optim.Adam. Its state saves into a safetensors
 * collection under a prefix and loads back, so a run resumes exactly.
 *
 * clg_cyclegan is the reference CycleGAN model: two ResNet generators (G_A:
 * A to B, G_B: B to A), two discriminators (D_A judges B images, D_B judges
 * A images), two image pools and two Adam optimisers. clg_cyclegan_step()
 * runs one iteration of the reference's optimize_parameters() on a batch:
 * the forward passes, the generator update with both discriminators frozen,
 * then both discriminator updates on fakes drawn from the pools. It returns
 * the eight losses as the reference defines them (D_A, G_A, cycle_A, idt_A,
 * D_B, G_B, cycle_B, idt_B), measured before that iteration's updates. A
 * loss that is not finite stops the iteration before any update, with
 * CLG_ERR_NUMERIC naming it.
 *
 * clg_cyclegan_save() writes <dir>/<label>_net_{G_A,G_B,D_A,D_B}.safetensors
 * and <dir>/<label>_train_state.safetensors (optimisers, pools, random
 * state, counters), each atomically; clg_cyclegan_resume() restores all of
 * it. clg_cyclegan_translate() runs a generator on one image of any size.
 */

#include "clgan/cyclegan_options.h"
#include "clgan/image.h"
#include "clgan/models.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Adam over the parameters of modules ---- */

typedef struct clg_adam clg_adam;

clg_status clg_adam_create(int module_count, clg_module *const *modules,
                           const clg_adam_params *params, clg_adam **out);
void clg_adam_release(clg_adam *adam);
void clg_adam_set_lr(clg_adam *adam, float lr);
void clg_adam_zero_grad(clg_adam *adam);
/* Step every parameter that has a gradient. */
clg_status clg_adam_update(clg_adam *adam);
clg_status clg_adam_save(const clg_adam *adam, const char *prefix, clg_safetensors *st);
clg_status clg_adam_load(clg_adam *adam, const char *prefix, const clg_safetensors *st);

/* ---- CycleGAN ---- */

typedef enum clg_cyclegan_loss {
    CLG_LOSS_D_A,
    CLG_LOSS_G_A,
    CLG_LOSS_CYCLE_A,
    CLG_LOSS_IDT_A,
    CLG_LOSS_D_B,
    CLG_LOSS_G_B,
    CLG_LOSS_CYCLE_B,
    CLG_LOSS_IDT_B,
    CLG_LOSS_COUNT
} clg_cyclegan_loss;

typedef enum clg_cyclegan_net_id {
    CLG_NET_G_A,
    CLG_NET_G_B,
    CLG_NET_D_A,
    CLG_NET_D_B
} clg_cyclegan_net_id;

/* Progress that a resumed run continues from. */
typedef struct clg_cyclegan_counters {
    int64_t iter;    /* iterations done */
    int64_t batches; /* batches drawn from the dataset */
    int epoch;       /* the epoch being trained, numbered from epoch_count */
} clg_cyclegan_counters;

typedef struct clg_cyclegan clg_cyclegan;

/* Build the four networks (initialised from opts->seed), the pools and the optimisers. */
clg_status clg_cyclegan_create(clg_device *device, const clg_cyclegan_options *opts,
                               clg_cyclegan **out);
void clg_cyclegan_release(clg_cyclegan *cg);

clg_module *clg_cyclegan_net(clg_cyclegan *cg, clg_cyclegan_net_id which);
clg_cyclegan_counters *clg_cyclegan_counters_of(clg_cyclegan *cg);

/* Load the four networks from <dir>/<label>_net_*.safetensors (bare PyTorch keys allowed). */
clg_status clg_cyclegan_load_nets(clg_cyclegan *cg, const char *dir, const char *label);

/* Set the learning rate of both optimisers. */
void clg_cyclegan_set_lr(clg_cyclegan *cg, double lr);

/* One training iteration on real_a [N, input_nc, H, W] and real_b, values in [-1, 1]. */
clg_status clg_cyclegan_step(clg_cyclegan *cg, const int a_shape[4], const float *real_a,
                             const int b_shape[4], const float *real_b,
                             float losses[CLG_LOSS_COUNT]);

/* The first image of the last step's visuals, in the order of clg_cyclegan_visual_names. */
clg_status clg_cyclegan_visual(clg_cyclegan *cg, int index, clg_image *out);

clg_status clg_cyclegan_save(clg_cyclegan *cg, const char *dir, const char *label,
                             int with_train_state);
clg_status clg_cyclegan_resume(clg_cyclegan *cg, const char *dir, const char *label);

/*
 * Translate an image (values in [0, 1], any size) with a generator: padded
 * by reflection to a multiple of 4, run in evaluation mode, cropped back.
 * out gets the same size with values in [0, 1].
 */
clg_status clg_generator_translate(clg_device *device, clg_module *generator, const clg_image *in,
                                   clg_image *out);

#ifdef __cplusplus
}
#endif

#endif
