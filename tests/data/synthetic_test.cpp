#include "tiebreak/data/synthetic.h"
#include "support/test_support.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/registry.h"
#include "tiebreak/data/tensor_dataset.h"

#include <gtest/gtest.h>

namespace tiebreak::data {
namespace {

TEST(DataSynthetic, IsAFunctionOfTheSeed) {
  auto a = generate_synthetic(200, 10, {1, 28, 28}, 7, 0);
  auto b = generate_synthetic(200, 10, {1, 28, 28}, 7, 0);
  auto c = generate_synthetic(200, 10, {1, 28, 28}, 8, 0);
  auto d = generate_synthetic(200, 10, {1, 28, 28}, 7, 1);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.labels, b.labels));
  EXPECT_FALSE(torch::equal(a.images, c.images));
  EXPECT_FALSE(torch::equal(a.images, d.images));
}

TEST(DataSynthetic, AnyShapeAndClassCountWithBalancedLabels) {
  auto t = generate_synthetic(120, 6, {3, 17, 9}, 1, 0);
  EXPECT_EQ(t.images.sizes(), torch::IntArrayRef({120, 3, 17, 9}));
  EXPECT_EQ(t.images.scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(torch::bincount(t.labels, {}, 6), torch::full({6}, 20, torch::kLong)));
  // Not a constant image: the pixels use the range.
  EXPECT_GT(t.images.to(torch::kFloat32).std().item<float>(), 20.0f);
  EXPECT_THROW(generate_synthetic(10, 1, {1, 8, 8}, 0, 0), DataError);
  EXPECT_THROW(generate_synthetic(10, 3, {1, 8}, 0, 0), DataError);
}

TEST(DataSynthetic, ClassesAreLearnable) {
  // A nearest-class-mean classifier fitted on the training split must beat chance by far on
  // the test split: the classes carry signal that generalizes across the seeded streams.
  auto ds = make_dataset("synthetic", DataOptions()
                                          .seed(3)
                                          .synthetic_train_size(2000)
                                          .synthetic_test_size(500)
                                          .synthetic_classes(10)
                                          .synthetic_shape({1, 28, 28}));
  auto* t = dynamic_cast<TensorDataset*>(ds.get());
  ASSERT_NE(t, nullptr);
  const auto& train = t->tensors(Split::Train);
  const auto& test = t->tensors(Split::Test);
  auto x = train.images.flatten(1).to(torch::kFloat32);
  auto means = torch::zeros({10, x.size(1)});
  means.index_add_(0, train.labels, x);
  means /= torch::bincount(train.labels, {}, 10).to(torch::kFloat32).unsqueeze(1);
  auto xt = test.images.flatten(1).to(torch::kFloat32);
  auto predicted = torch::cdist(xt, means).argmin(1);
  const double accuracy = predicted.eq(test.labels).to(torch::kFloat32).mean().item<double>();
  EXPECT_GT(accuracy, 0.5) << "nearest-mean accuracy " << accuracy;
  EXPECT_EQ(ds->normalization().mean, std::vector<double>({0.5}));
}

}  // namespace
}  // namespace tiebreak::data
