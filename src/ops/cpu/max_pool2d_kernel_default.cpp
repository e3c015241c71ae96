// The MaxPool CPU kernels for baseline x86-64 (and every other architecture).
#define TIEBREAK_CPU_CAPABILITY default_isa
#include "ops/cpu/max_pool2d_kernel_impl.h"
