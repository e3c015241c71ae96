// The NormPool CPU kernels built with F16C (src/CMakeLists.txt adds -mf16c to
// the *_f16c.cpp files on x86-64): c10::Half converts with vcvtph2ps/vcvtps2ph.
#ifdef __F16C__
#define TIEBREAK_CPU_CAPABILITY f16c
#include "ops/cpu/norm_pool2d_kernel_impl.h"
#endif
