#include "ops/cpu/cpu_capability.h"

#include <c10/util/Exception.h>

#include <cstdlib>

namespace tiebreak::ops {

namespace {

bool cpu_has_f16c() {
#if defined(TIEBREAK_CPU_F16C_KERNELS) && (defined(__x86_64__) || defined(__i386__))
  // Safe even when first asked from another library's static initializer.
  __builtin_cpu_init();
  return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
#else
  return false;
#endif
}

CpuCapability detect() {
  const char* env = std::getenv("TIEBREAK_CPU_CAPABILITY");
  if (env == nullptr || *env == '\0') return cpu_has_f16c() ? CpuCapability::F16C : CpuCapability::Default;
  const std::string wanted(env);
  if (wanted == "default") return CpuCapability::Default;
  TORCH_CHECK(wanted == "f16c", "TIEBREAK_CPU_CAPABILITY: expected default or f16c, got \"", wanted, "\"");
  TORCH_CHECK(cpu_has_f16c(), "TIEBREAK_CPU_CAPABILITY=f16c: ",
              "this build or this CPU has no F16C kernels (expected default)");
  return CpuCapability::F16C;
}

}  // namespace

CpuCapability cpu_capability() {
  static const CpuCapability capability = detect();
  return capability;
}

std::string to_string(CpuCapability capability) {
  return capability == CpuCapability::F16C ? "f16c" : "default";
}

}  // namespace tiebreak::ops
