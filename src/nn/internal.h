/* Module internals shared by the nn sources: the module struct and its tree walk. */
#ifndef CLGAN_NN_INTERNAL_H
#define CLGAN_NN_INTERNAL_H

#include "clgan/nn.h"
#include "clgan/rng.h"

#define CLGI_MAX_PARAMS  2
#define CLGI_MAX_BUFFERS 2
#define CLGI_NAME_MAX    48

typedef clg_status (*clgi_forward_fn)(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out);

typedef struct clgi_module_class {
    const char *kind; /* PyTorch's class name */
    clgi_forward_fn forward;
} clgi_module_class;

typedef enum clgi_state_kind {
    CLGI_STATE_PARAM,
    CLGI_STATE_BUFFER,
    CLGI_STATE_COUNTER /* num_batches_tracked: a host integer */
} clgi_state_kind;

/* One entry of a module's flattened state, in state_dict order. */
typedef struct clgi_state_entry {
    char *name;
    clg_module *owner;
    clgi_state_kind kind;
    int index; /* into owner's params or buffers */
} clgi_state_entry;

typedef union clgi_module_config {
    clg_conv2d_params conv;
    clg_conv_transpose2d_params convt;
    int pad;
    float slope;
    struct {
        float p;
        clg_rng rng;
    } dropout;
    struct {
        float eps;
        float momentum;
    } norm;
} clgi_module_config;

struct clg_module {
    const clgi_module_class *cls;
    clg_module *parent;
    clg_module **children;
    char (*child_names)[CLGI_NAME_MAX];
    int n_children;
    int cap_children;

    char param_names[CLGI_MAX_PARAMS][CLGI_NAME_MAX];
    clg_var *params[CLGI_MAX_PARAMS];
    int n_params;
    char buffer_names[CLGI_MAX_BUFFERS][CLGI_NAME_MAX];
    clg_tensor *buffers[CLGI_MAX_BUFFERS];
    int n_buffers;
    int has_counter;
    int64_t num_batches_tracked;

    int training;
    clgi_module_config cfg;

    /* The flattened state, rebuilt when the tree below changes. */
    clgi_state_entry *state;
    int n_state;
    int *param_index; /* entries of state that are parameters */
    int n_param_index;
    int state_valid;

    char **meta_keys;
    char **meta_values;
    int n_meta;
};

/* A new module of class cls with no parameters, in training mode. */
clg_status clgi_module_new(const clgi_module_class *cls, clg_module **out);

/* Give m a parameter (zero-filled, requires_grad) or a buffer filled with value. */
clg_status clgi_module_add_param(clg_module *m, clg_device *device, const char *name, int ndim,
                                 const int *shape, float value);
clg_status clgi_module_add_buffer(clg_module *m, clg_device *device, const char *name, int ndim,
                                  const int *shape, float value);

/* Call visit for m and every descendant, parents first, with each one's dotted path. */
typedef clg_status (*clgi_visit_fn)(clg_module *m, const char *path, void *user);
clg_status clgi_module_walk(clg_module *m, clgi_visit_fn visit, void *user);

/* The flattened state of m, rebuilt if needed. */
clg_status clgi_module_state(clg_module *m, const clgi_state_entry **entries, int *count);

/* The module at a dotted path below m ("" is m), or NULL. */
clg_module *clgi_module_find(clg_module *m, const char *path);

/* The class of convolution and batch-norm modules (for init and loading). */
extern const clgi_module_class clgi_conv2d_class;
extern const clgi_module_class clgi_conv_transpose2d_class;
extern const clgi_module_class clgi_batch_norm2d_class;
extern const clgi_module_class clgi_instance_norm2d_class;

#endif
