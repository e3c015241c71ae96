// The one enum-name facility (tiebreak/core/enum_names.h) and every table declared with it.
#include "tiebreak/core/enum_names.h"
#include "tiebreak/config/config.h"
#include "tiebreak/models/options.h"
#include "tiebreak/nn/nonsmooth.h"
#include "tiebreak/ops/formulation_names.h"
#include "tiebreak/zones/discrepancy_norm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace tiebreak::core {
namespace {

using ::testing::HasSubstr;

enum class Colour { Red, Green, Blue };
constexpr std::array<EnumName<Colour>, 3> enum_names(Colour) {
  return {{{Colour::Red, "red"}, {Colour::Green, "green"}, {Colour::Blue, "blue"}}};
}

TEST(EnumNames, NamesParsesAndListsInTableOrder) {
  EXPECT_EQ(enum_name(Colour::Green), "green");
  EXPECT_EQ(enum_from_name<Colour>("blue"), Colour::Blue);
  EXPECT_EQ(enum_from_name<Colour>("Blue"), std::nullopt);  // names are exact
  EXPECT_EQ(enum_choices<Colour>(), "red|green|blue");
  EXPECT_EQ(enum_choices<Colour>(", "), "red, green, blue");
  EXPECT_EQ(parse_enum<Colour>("red", "paint.colour"), Colour::Red);
  try {
    parse_enum<Colour>("mauve", "paint.colour");
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what_without_backtrace(),
                HasSubstr("paint.colour: expected one of red|green|blue, got \"mauve\""));
  }
}

TEST(EnumNames, AnEnumeratorMissingFromItsTableIsAnInternalError) {
  EXPECT_THROW(enum_name(static_cast<Colour>(7)), c10::Error);
}

/// Every enumerator 0..count-1 has one name, the names are distinct, and each parses back.
template <typename E>
void expect_complete_table(size_t count, const std::vector<std::string>& expected_names) {
  std::set<std::string> names;
  std::vector<std::string> in_order;
  for (size_t i = 0; i < count; ++i) {
    const auto value = static_cast<E>(i);
    const std::string name = enum_name(value);
    EXPECT_TRUE(names.insert(name).second) << name << " named twice";
    EXPECT_EQ(enum_from_name<E>(name), value) << name;
    in_order.push_back(name);
  }
  EXPECT_EQ(enum_table<E>().size(), count);
  EXPECT_EQ(in_order, expected_names);
}

TEST(EnumNames, EveryConfigEnumHasTheNamesItsDocsList) {
  // The names as docs/training.md and the configs spell them.
  expect_complete_table<config::Precision>(6, {"fp16", "fp32", "fp64", "bf16", "amp_fp16", "amp_bf16"});
  expect_complete_table<config::OptimizerKind>(4, {"sgd", "adam", "adamw", "innaprop"});
  expect_complete_table<config::ScheduleKind>(3, {"constant", "cosine", "step"});
  expect_complete_table<config::HalfCompute>(3, {"auto", "fp32_accumulate", "native"});
  expect_complete_table<config::Augmentation>(2, {"standard", "none"});
  expect_complete_table<config::Seeding>(2, {"paired", "independent"});
  expect_complete_table<config::LogLevel>(5, {"trace", "debug", "info", "warn", "error"});
  expect_complete_table<config::DistributedBackend>(3, {"auto", "gloo", "nccl"});
  expect_complete_table<ops::PoolFormulation>(2, {"pure", "mixture"});
  expect_complete_table<nn::PoolKind>(2, {"maxpool", "normpool"});
  expect_complete_table<models::Stem>(2, {"cifar", "imagenet"});
  expect_complete_table<models::InitScheme>(
      4, {"pytorch_default", "kaiming", "torchvision_resnet", "torchvision_densenet"});
  expect_complete_table<models::ModelVariant>(2, {"torchvision", "study"});
  expect_complete_table<zones::DiscrepancyNorm>(2, {"linf", "l1"});
}

TEST(EnumNames, ModuleToStringUsesTheTable) {
  EXPECT_EQ(ops::to_string(ops::PoolFormulation::Mixture), "mixture");
  EXPECT_EQ(config::to_string(config::Precision::AmpBf16), "amp_bf16");
  EXPECT_EQ(models::to_string(models::InitScheme::TorchvisionResNet), "torchvision_resnet");
  EXPECT_EQ(ops::parse_pool_formulation("mixture"), ops::PoolFormulation::Mixture);
}

}  // namespace
}  // namespace tiebreak::core
