/* Kernels behind tensor fill and copy. */

__kernel void fill(CLG_TENSOR(x), int n, float value) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    CLG_AT(x)[i] = value;
}

__kernel void copy(CLG_TENSOR(dst), CLG_CTENSOR(src), int n) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    CLG_AT(dst)[i] = CLG_AT(src)[i];
}
