// The NormPool CPU kernels for baseline x86-64 (and every other architecture).
#define TIEBREAK_CPU_CAPABILITY default_isa
#include "ops/cpu/norm_pool2d_kernel_impl.h"
