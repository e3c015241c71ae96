#pragma once
// Which build of the CPU kernels runs. Some kernel files are compiled twice
// (see max_pool2d_kernel_impl.h): for baseline x86-64, whose c10::Half
// conversions are integer bit manipulation, and with F16C (hardware
// Half<->float conversion, present on every x86-64 CPU since 2012, which also
// implies AVX but not FMA, so results stay bit-identical). ATen does the same
// per capability for its own kernels.

#include <string>

namespace tiebreak::ops {

enum class CpuCapability { Default, F16C };

/// The capability the kernels use: $TIEBREAK_CPU_CAPABILITY ("default" or
/// "f16c") when set, else the best one this build has and this CPU supports.
/// An unknown or unsupported value is an error naming the variable.
CpuCapability cpu_capability();

std::string to_string(CpuCapability capability);

}  // namespace tiebreak::ops
