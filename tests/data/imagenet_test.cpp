#include "tiebreak/data/imagenet.h"
#include "data/fixtures.h"
#include "support/test_support.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tiebreak::data {
namespace {

using testing::class_image;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::write_tiny_imagenet;

DataOptions small_options(const TempDir& tmp) {
  return DataOptions()
      .root(tmp.path().string())
      .crop_size(16)
      .resize_size(20)
      .train_batch_size(4)
      .test_batch_size(5)
      .num_workers(2)
      .prefetch(2);
}

TEST(DataImageNet, DecodesJpegToRgbChw) {
  auto img = class_image(1, 24, 40);
  auto decoded = decode_jpeg(testing::encode_jpeg(img), "x.JPEG");
  EXPECT_EQ(decoded.sizes(), torch::IntArrayRef({3, 24, 40}));
  EXPECT_LE((decoded.to(torch::kInt) - img.to(torch::kInt)).abs().max().item<int>(), 3);
}

TEST(DataImageNet, CorruptJpegIsAnErrorNamingIt) {
  std::vector<uint8_t> junk(300, 7);
  try {
    decode_jpeg(junk, "broken.JPEG");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("broken.JPEG"));
  }
}

TEST(DataImageNet, ScansFolderLayoutAndProducesNormalizedBatches) {
  TempDir tmp;
  write_tiny_imagenet(tmp / "imagenet", 5, 2);
  auto ds = make_dataset("imagenet", small_options(tmp));
  EXPECT_EQ(ds->num_classes(), 3);
  EXPECT_EQ(ds->size(Split::Train), 15);
  EXPECT_EQ(ds->size(Split::Test), 6);
  EXPECT_EQ(ds->image_shape().height, 16);
  auto test = ds->epoch(Split::Test, 0);
  EXPECT_EQ(test->num_batches(), 2);
  auto first = test->next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->images.sizes(), torch::IntArrayRef({5, 3, 16, 16}));
  EXPECT_TRUE(torch::equal(first->labels, torch::tensor({0, 0, 1, 1, 2}, torch::kLong)));
  // Class 0 is red: after ImageNet normalization red is far above blue.
  auto red = first->images[0][0].mean().item<double>(), blue = first->images[0][2].mean().item<double>();
  EXPECT_NEAR(red, (220 / 255.0 - 0.485) / 0.229, 0.05);
  EXPECT_NEAR(blue, (30 / 255.0 - 0.406) / 0.225, 0.05);
  auto second = test->next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->images.size(0), 1);
  EXPECT_FALSE(test->next().has_value());
}

TEST(DataImageNet, TrainingBatchesDependOnSeedAndEpochNotOnWorkers) {
  TempDir tmp;
  write_tiny_imagenet(tmp / "imagenet", 4, 1);
  auto one = std::make_shared<ImageNetDataset>(small_options(tmp).num_workers(1).prefetch(1).seed(3));
  auto many = std::make_shared<ImageNetDataset>(small_options(tmp).num_workers(3).prefetch(4).seed(3));
  auto a = one->epoch(Split::Train, 2);
  auto b = many->epoch(Split::Train, 2);
  int batches = 0;
  while (auto x = a->next()) {
    auto y = b->next();
    ASSERT_TRUE(y.has_value());
    EXPECT_TRUE(torch::equal(x->images, y->images));
    EXPECT_TRUE(torch::equal(x->labels, y->labels));
    ++batches;
  }
  EXPECT_EQ(batches, 3);
  EXPECT_FALSE(b->next().has_value());
  // Another epoch visits the images in another order.
  auto e0 = one->epoch(Split::Train, 0);
  auto e1 = one->epoch(Split::Train, 1);
  std::vector<torch::Tensor> l0, l1;
  while (auto x = e0->next()) l0.push_back(x->labels);
  while (auto x = e1->next()) l1.push_back(x->labels);
  EXPECT_FALSE(torch::equal(torch::cat(l0), torch::cat(l1)));
}

TEST(DataImageNet, LayoutErrorsNameTheFolder) {
  TempDir tmp;
  write_tiny_imagenet(tmp / "imagenet", 1, 1);
  testing::write_bytes(tmp / "imagenet" / "val" / "n99999999" / "x.JPEG",
                       testing::encode_jpeg(class_image(0, 8, 8)));
  try {
    make_dataset("imagenet", small_options(tmp));
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("n99999999"));
    EXPECT_THAT(e.what(), HasSubstr("not among the training classes"));
  }
  TempDir empty;
  try {
    make_dataset("imagenet", small_options(empty));
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((empty / "imagenet" / "train").string()));
  }
}

TEST(DataImageNet, UnreadableImageFailsTheBatchWithItsName) {
  TempDir tmp;
  write_tiny_imagenet(tmp / "imagenet", 1, 1);
  testing::write_bytes(tmp / "imagenet" / "val" / "n01443537" / "zz_broken.JPEG",
                       std::vector<uint8_t>(100, 1));
  auto ds = make_dataset("imagenet", small_options(tmp).test_batch_size(10));
  auto stream = ds->epoch(Split::Test, 0);
  try {
    stream->next();
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("zz_broken.JPEG"));
  }
}

TEST(DataImageNet, DecodesAdobeCmykJpegToRgb) {
  // Inverted (Adobe) CMYK as libjpeg stores it: 255 means no ink, so RGB = (C, M, Y) · K / 255.
  auto cmyk = torch::empty({8, 8, 4}, torch::kByte);
  cmyk.select(2, 0).fill_(200);
  cmyk.select(2, 1).fill_(100);
  cmyk.select(2, 2).fill_(50);
  cmyk.select(2, 3).fill_(255);
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(h, cmyk.data_ptr<uint8_t>(), 8, 0, 8, TJPF_CMYK, &buf, &size, TJSAMP_444, 100, 0), 0)
      << tjGetErrorStr2(h);
  std::vector<uint8_t> jpeg(buf, buf + size);
  tjFree(buf);
  tjDestroy(h);
  auto rgb = decode_jpeg(jpeg, "cmyk.JPEG");
  EXPECT_EQ(rgb.sizes(), torch::IntArrayRef({3, 8, 8}));
  EXPECT_NEAR(rgb[0].to(torch::kFloat32).mean().item<float>(), 200, 3);
  EXPECT_NEAR(rgb[1].to(torch::kFloat32).mean().item<float>(), 100, 3);
  EXPECT_NEAR(rgb[2].to(torch::kFloat32).mean().item<float>(), 50, 3);
}

TEST(DataImageNet, TestTransformResizesTheShorterSideThenCropsTheCentre) {
  TempDir tmp;
  // 40×80 black image with a white 20×20 square in the middle: Resize(20) makes it 20×40 with a
  // 10×10 square in the middle; CenterCrop(16) keeps the square centred, 10 pixels wide.
  auto img = torch::zeros({3, 40, 80}, torch::kByte);
  img.slice(1, 10, 30).slice(2, 30, 50).fill_(255);
  testing::write_bytes(tmp / "imagenet" / "train" / "n0" / "a.JPEG", testing::encode_jpeg(img));
  testing::write_bytes(tmp / "imagenet" / "val" / "n0" / "a.JPEG", testing::encode_jpeg(img));
  auto ds = make_dataset("imagenet", small_options(tmp).test_batch_size(1));
  auto batch = ds->epoch(Split::Test, 0)->next();
  ASSERT_TRUE(batch.has_value());
  auto red = batch->images[0][0];  // normalized: white ≈ 2.2, black ≈ -2.1
  auto white = red.gt(0);
  EXPECT_NEAR(white.sum().item<int64_t>(), 100, 12);
  auto rows = white.any(1).nonzero().flatten(), cols = white.any(0).nonzero().flatten();
  EXPECT_NEAR((rows.min().item<int64_t>() + rows.max().item<int64_t>()) / 2.0, 7.5, 1.0);
  EXPECT_NEAR((cols.min().item<int64_t>() + cols.max().item<int64_t>()) / 2.0, 7.5, 1.0);
}

}  // namespace
}  // namespace tiebreak::data
