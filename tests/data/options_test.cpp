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

TEST(DataOptionsTest, JsonRoundTrip) {
  auto j = json::parse(R"({"name": "cifar-10", "root": "/d", "train_batch_size": 64, "seed": 11,
                           "augment": false, "dtype": "float16", "device": "cpu",
                           "files": {"train": ["a.bin", "b.bin.gz"], "test": ["t.bin"]},
                           "synthetic": {"shape": [3, 8, 8], "classes": 4}})");
  auto o = data_options_from_json(j);
  EXPECT_EQ(o.name(), "cifar-10");
  EXPECT_EQ(o.root(), "/d");
  EXPECT_EQ(o.train_batch_size(), 64);
  EXPECT_EQ(o.seed(), 11u);
  EXPECT_FALSE(o.augment());
  EXPECT_EQ(o.dtype(), torch::kFloat16);
  EXPECT_EQ(o.train_files(), std::vector<std::string>({"a.bin", "b.bin.gz"}));
  EXPECT_EQ(o.test_files(), std::vector<std::string>({"t.bin"}));
  EXPECT_EQ(o.synthetic_shape(), std::vector<int64_t>({3, 8, 8}));
  EXPECT_EQ(o.synthetic_classes(), 4);
  auto back = data_options_from_json(data_options_to_json(o));
  EXPECT_EQ(data_options_to_json(back), data_options_to_json(o));
}

TEST(DataOptionsTest, BadJsonNamesTheKey) {
  auto expect_error = [](const char* text, const char* fragment) {
    try {
      data_options_from_json(json::parse(text));
      ADD_FAILURE() << "expected a DataError for " << text;
    } catch (const DataError& e) {
      EXPECT_THAT(e.what(), HasSubstr(fragment));
    }
  };
  expect_error(R"({"batch": 3})", "data.batch: unknown key");
  expect_error(R"({"train_batch_size": "big"})", "data.train_batch_size");
  expect_error(R"({"train_batch_size": 0})", "positive");
  expect_error(R"({"dtype": "int8"})", "data.dtype");
  expect_error(R"({"device": "tpu"})", "data.device");
  expect_error(R"({"files": {"val": []}})", "data.files.val: unknown key");
  expect_error(R"({"synthetic": {"shape": [1, 2]}})", "data.synthetic.shape");
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
