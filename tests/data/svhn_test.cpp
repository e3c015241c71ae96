#include "tiebreak/data/svhn.h"
#include "data/fixtures.h"
#include "support/test_support.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/registry.h"
#include "tiebreak/data/tensor_dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tiebreak::data {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

template <typename F>
void expect_data_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    for (const auto& fragment : fragments) EXPECT_THAT(e.what(), HasSubstr(fragment));
  }
}

std::pair<torch::Tensor, torch::Tensor> random_svhn(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return {torch::randint(0, 256, {n, 3, 32, 32}, gen, torch::kLong).to(torch::kByte),
          torch::randint(0, 10, {n}, gen, torch::kLong)};
}

TEST(DataSvhn, ReadsMatlabColumnMajorImagesAndMapsLabelTenToZero) {
  TempDir tmp;
  auto [x, y] = random_svhn(9, 1);
  y[0] = 0;  // stored as 10
  testing::write_svhn_mat(tmp / "train_32x32.mat", x, y);
  auto t = read_svhn_mat(tmp / "train_32x32.mat");
  EXPECT_EQ(t.images.sizes(), torch::IntArrayRef({9, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(t.images, x));
  EXPECT_TRUE(torch::equal(t.labels, y));
  EXPECT_EQ(t.labels[0].item<int64_t>(), 0);
}

TEST(DataSvhn, PixelLayoutIsRowsThenColumns) {
  TempDir tmp;
  auto x = torch::zeros({1, 3, 32, 32}, torch::kByte);
  x[0][1][3][20] = 200;  // green, row 3, column 20: not symmetric under a transpose
  testing::write_svhn_mat(tmp / "one.mat", x, torch::tensor({5}, torch::kLong));
  auto t = read_svhn_mat(tmp / "one.mat");
  EXPECT_EQ(t.images[0][1][3][20].item<int64_t>(), 200);
  EXPECT_EQ(t.images[0][1][20][3].item<int64_t>(), 0);
}

TEST(DataSvhn, BadLabelsShapesAndFilesAreErrorsNamingTheFile) {
  TempDir tmp;
  auto [x, y] = random_svhn(3, 2);
  testing::write_svhn_mat(tmp / "bad_y.mat", x, torch::tensor({1, 11, 3}, torch::kLong), /*raw_y=*/true);
  expect_data_error([&] { read_svhn_mat(tmp / "bad_y.mat"); }, {"bad_y.mat", "y[1] = 11", "1..10"});

  testing::write_svhn_mat(tmp / "short_y.mat", x, torch::tensor({1, 2}, torch::kLong), true);
  expect_data_error([&] { read_svhn_mat(tmp / "short_y.mat"); }, {"short_y.mat", "3 images", "2 labels"});

  testing::write_bytes(tmp / "text.mat", std::vector<uint8_t>(200, 'x'));
  expect_data_error([&] { read_svhn_mat(tmp / "text.mat"); }, {"text.mat", "not a MATLAB .mat file"});

  testing::write_svhn_mat(tmp / "whole.mat", random_svhn(50, 3).first, random_svhn(50, 3).second);
  auto bytes = testing::read_raw_bytes(tmp / "whole.mat");
  bytes.resize(bytes.size() / 2);
  testing::write_bytes(tmp / "cut.mat", bytes);
  EXPECT_THROW(read_svhn_mat(tmp / "cut.mat"), DataError);

  mat_t* mat = Mat_CreateVer((tmp / "wrong_x.mat").c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr);
  std::vector<uint8_t> data(28 * 28 * 2);
  size_t dims[3] = {28, 28, 2};
  matvar_t* v = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 3, dims, data.data(), 0);
  Mat_VarWrite(mat, v, MAT_COMPRESSION_NONE);
  Mat_VarFree(v);
  Mat_Close(mat);
  expect_data_error([&] { read_svhn_mat(tmp / "wrong_x.mat"); }, {"wrong_x.mat", "32x32x3xN"});
}

TEST(DataSvhn, DatasetFromTheDefaultFilesWithOptionalExtra) {
  TempDir tmp;
  auto [x, y] = random_svhn(12, 4);
  auto [vx, vy] = random_svhn(5, 5);
  auto [ex, ey] = random_svhn(7, 6);
  testing::write_svhn_mat(tmp / "svhn" / "train_32x32.mat", x, y);
  testing::write_svhn_mat(tmp / "svhn" / "test_32x32.mat", vx, vy);
  testing::write_svhn_mat(tmp / "svhn" / "extra_32x32.mat", ex, ey);
  auto ds = make_dataset("svhn", DataOptions().root(tmp.path().string()));
  EXPECT_EQ(ds->size(Split::Train), 12);
  EXPECT_EQ(ds->size(Split::Test), 5);
  EXPECT_EQ(ds->image_shape().channels, 3);
  EXPECT_EQ(ds->normalization().mean, std::vector<double>(3, 0.5));
  auto with_extra = make_dataset("svhn", DataOptions().root(tmp.path().string()).svhn_extra(true));
  EXPECT_EQ(with_extra->size(Split::Train), 19);
  auto* t = dynamic_cast<TensorDataset*>(with_extra.get());
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(torch::equal(t->tensors(Split::Train).labels, torch::cat({y, ey})));
}

}  // namespace
}  // namespace tiebreak::data
