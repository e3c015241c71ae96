#include "tiebreak/data/options.h"
#include "support/test_support.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/registry.h"
#include "tiebreak/data/tensor_dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>

namespace tiebreak::data {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(DataOptionsTest, DefaultsFollowTheStudy) {
  DataOptions o;
  EXPECT_EQ(o.train_batch_size(), 128);
  EXPECT_EQ(o.test_batch_size(), 100);
  EXPECT_TRUE(o.shuffle());
  EXPECT_TRUE(o.augment());
  EXPECT_EQ(o.dtype(), torch::kFloat32);
  EXPECT_EQ(o.device(), torch::Device(torch::kCPU));
}

TEST(DataRegistry, CanonicalNamesAndAliases) {
  EXPECT_EQ(canonical_dataset_name("MNIST"), "mnist");
  EXPECT_EQ(canonical_dataset_name("fashion_mnist"), "fashion-mnist");
  EXPECT_EQ(canonical_dataset_name("FashionMNIST"), "fashion-mnist");
  EXPECT_EQ(canonical_dataset_name("CIFAR10"), "cifar-10");
  EXPECT_EQ(canonical_dataset_name("cifar100"), "cifar-100");
  try {
    canonical_dataset_name("imagenette");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("imagenette"));
    EXPECT_THAT(e.what(), HasSubstr("cifar-10"));
  }
  auto names = dataset_names();
  for (const char* n :
       {"mnist", "fashion-mnist", "kmnist", "cifar-10", "cifar-100", "svhn", "imagenet", "synthetic"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
}

TEST(DataRegistry, RegisteredFactoriesAreFound) {
  register_dataset("tiny-test-set", [](const DataOptions& o) -> std::shared_ptr<Dataset> {
    auto x = torch::zeros({2, 1, 2, 2}, torch::kByte);
    auto y = torch::tensor({0, 1}, torch::kLong);
    return std::make_shared<TensorDataset>(o, o.name(), ImageTensors{x, y}, ImageTensors{x, y}, 2,
                                           Normalization{{0.0}, {1.0}}, Augmentation{});
  });
  auto ds = make_dataset("tiny_test_set");
  EXPECT_EQ(ds->name(), "tiny-test-set");
  EXPECT_EQ(ds->size(Split::Train), 2);
}

TEST(DataRegistry, RootResolutionPrefersExplicitThenEnvironment) {
  const char* old = std::getenv("TIEBREAK_DATA");
  std::string saved = old ? old : "";
  setenv("TIEBREAK_DATA", "/from/env", 1);
  EXPECT_EQ(resolve_data_root("/explicit"), "/explicit");
  EXPECT_EQ(resolve_data_root(""), "/from/env");
  unsetenv("TIEBREAK_DATA");
  EXPECT_EQ(resolve_data_root(""), "data");
  if (old) setenv("TIEBREAK_DATA", saved.c_str(), 1);
  EXPECT_EQ(dataset_dir("CIFAR-10", "/r"), std::filesystem::path("/r/cifar-10"));
}

}  // namespace
}  // namespace tiebreak::data
