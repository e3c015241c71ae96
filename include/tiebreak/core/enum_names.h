#pragma once

#include <c10/util/Exception.h>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tiebreak::core {

/// One enumerator and the name configs, files and flags spell it with.
template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

/// The one way an enum gets its names. Next to the enum, in the enum's own namespace, declare
///
/// ```
/// enum class PoolFormulation { Pure, Mixture };
/// constexpr std::array<core::EnumName<PoolFormulation>, 2> enum_names(PoolFormulation) {
///   return {{{PoolFormulation::Pure, "pure"}, {PoolFormulation::Mixture, "mixture"}}};
/// }
/// ```
///
/// (found by argument-dependent lookup), then `core::enum_name(PoolFormulation::Mixture)` is "mixture",
/// `core::parse_enum<PoolFormulation>("pure", "nonsmooth.formulation")` is Pure and
/// `core::enum_choices<PoolFormulation>()` is "pure|mixture". The table's order is the order choices are
/// listed in errors and docs.
template <typename E>
constexpr auto enum_table() {
  return enum_names(E{});
}

/// The name of `value`; TORCH_INTERNAL_ASSERT when the table lacks it (an enumerator without a name is a
/// bug in the table, not bad input).
template <typename E>
std::string enum_name(E value) {
  for (const auto& entry : enum_table<E>())
    if (entry.value == value) return std::string(entry.name);
  TORCH_INTERNAL_ASSERT(false, "enumerator ", static_cast<long long>(value), " has no name in its table");
}

/// The enumerator named `name`, or nullopt.
template <typename E>
std::optional<E> enum_from_name(std::string_view name) {
  for (const auto& entry : enum_table<E>())
    if (entry.name == name) return entry.value;
  return std::nullopt;
}

/// Every name, joined by `separator`: "pure|mixture".
template <typename E>
std::string enum_choices(std::string_view separator = "|") {
  std::string out;
  for (const auto& entry : enum_table<E>()) {
    if (!out.empty()) out += separator;
    out += entry.name;
  }
  return out;
}

/// The enumerator named `name`; otherwise a c10::Error "`what`: expected one of a|b, got \"x\"" (`what`
/// names the field or argument the name came from).
template <typename E>
E parse_enum(std::string_view name, std::string_view what) {
  if (auto value = enum_from_name<E>(name)) return *value;
  TORCH_CHECK(false, what, ": expected one of ", enum_choices<E>(), ", got \"", name, "\"");
}

}  // namespace tiebreak::core
