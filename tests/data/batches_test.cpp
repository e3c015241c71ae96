#include "data/fixtures.h"
#include "support/test_support.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/data/tensor_dataset.h"
#include "tiebreak/data/transforms.h"

#include <gtest/gtest.h>

#include <set>

namespace tiebreak::data {
namespace {

using tiebreak::testing::expect_data_error;

// Image i carries its id in two pixels, i / 256 at (0, 0) and i mod 256 elsewhere, and is labelled
// i mod 10, so a batch shows exactly which examples it holds and whether images and labels stayed together.
ImageTensors numbered(int64_t n, int64_t c = 1, int64_t h = 4, int64_t w = 4) {
  auto ids = torch::arange(n, torch::kLong);
  auto images = ids.remainder(256).to(torch::kByte).view({n, 1, 1, 1}).expand({n, c, h, w}).contiguous();
  images.select(2, 0).select(2, 0).copy_(ids.div(256, "floor").to(torch::kByte).view({n, 1}).expand({n, c}));
  return {images, ids.remainder(10)};
}

std::shared_ptr<TensorDataset> numbered_dataset(DataOptions options, int64_t n_train = 1000,
                                                int64_t n_test = 250, Augmentation aug = {}) {
  return std::make_shared<TensorDataset>(options, "numbered", numbered(n_train), numbered(n_test), 10,
                                         half_normalization(1), aug);
}

// The example ids of every batch of one epoch (decoded from the normalized pixels).
std::vector<torch::Tensor> epoch_ids(const Dataset& ds, Split split, int64_t epoch, Shard shard = {}) {
  std::vector<torch::Tensor> ids;
  auto stream = ds.epoch(split, epoch, shard);
  while (auto b = stream->next()) {
    auto pixel = [&](int64_t y, int64_t x) {  // (v/255 - .5)/.5
      return ((b->images.select(1, 0).select(1, y).select(1, x) * 0.5 + 0.5) * 255).round().to(torch::kLong);
    };
    auto id = pixel(0, 0) * 256 + pixel(0, 1);
    EXPECT_TRUE(torch::equal(id.remainder(10), b->labels)) << "images and labels separated";
    ids.push_back(id);
  }
  return ids;
}

TEST(DataBatches, TrainingEpochIsAShuffledPermutationInBatchesOf128) {
  auto ds = numbered_dataset(DataOptions().seed(1), 1000);
  auto ids = epoch_ids(*ds, Split::Train, 0);
  ASSERT_EQ(ids.size(), 8u);  // 7 × 128 + 104
  EXPECT_EQ(ids.front().numel(), 128);
  EXPECT_EQ(ids.back().numel(), 1000 - 7 * 128);
  // Every example exactly once (none repeated, none dropped), not in order.
  auto all = std::get<0>(torch::sort(torch::cat(ids)));
  EXPECT_TRUE(torch::equal(all, torch::arange(1000, torch::kLong)));
  EXPECT_FALSE(torch::equal(torch::cat(ids), torch::arange(1000, torch::kLong)));
  EXPECT_EQ(ds->num_batches(Split::Train), 8);
}

TEST(DataBatches, SameSeedAndEpochGiveIdenticalBatchesOtherwiseDifferent) {
  auto a = numbered_dataset(DataOptions().seed(5));
  auto b = numbered_dataset(DataOptions().seed(5));
  auto c = numbered_dataset(DataOptions().seed(6));
  auto e3a = torch::cat(epoch_ids(*a, Split::Train, 3));
  auto e3b = torch::cat(epoch_ids(*b, Split::Train, 3));
  EXPECT_TRUE(torch::equal(e3a, e3b));
  // A resumed run asks for epoch 3 directly: nothing depends on earlier epochs or the global RNG.
  torch::manual_seed(12345);
  (void)torch::rand({100});
  EXPECT_TRUE(torch::equal(torch::cat(epoch_ids(*a, Split::Train, 3)), e3a));
  EXPECT_FALSE(torch::equal(torch::cat(epoch_ids(*a, Split::Train, 4)), e3a));
  EXPECT_FALSE(torch::equal(torch::cat(epoch_ids(*c, Split::Train, 3)), e3a));
}

TEST(DataBatches, TestSplitIsInOrderInBatchesOf100) {
  auto ds = numbered_dataset(DataOptions().seed(2), 1000, 250);
  auto ids = epoch_ids(*ds, Split::Test, 7);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].numel(), 100);
  EXPECT_EQ(ids[2].numel(), 50);
  EXPECT_TRUE(torch::equal(torch::cat(ids), torch::arange(250, torch::kLong)));
}

TEST(DataBatches, OptionsControlBatchSizeShuffleAndDropLast) {
  auto ds = numbered_dataset(DataOptions().train_batch_size(64).drop_last(true).shuffle(false), 1000);
  auto ids = epoch_ids(*ds, Split::Train, 0);
  ASSERT_EQ(ids.size(), 15u);  // 1000 / 64, the last 40 dropped
  EXPECT_EQ(ds->num_batches(Split::Train), 15);
  EXPECT_TRUE(torch::equal(torch::cat(ids), torch::arange(960, torch::kLong)));
}

TEST(DataBatches, ShardsAreDisjointStridesOfTheSamePermutation) {
  const int64_t n = 1003;
  auto ds = numbered_dataset(DataOptions().seed(9).train_batch_size(50), n);
  auto whole = epoch_indices(n, true, 9, 4, {}, true);
  std::set<int64_t> seen;
  for (int64_t rank = 0; rank < 4; ++rank) {
    auto part = epoch_indices(n, true, 9, 4, {rank, 4}, true);
    EXPECT_EQ(part.numel(), n / 4);
    // Rank r takes positions r, r + 4, ...: batch k of the ranks together is batch k of one process.
    EXPECT_TRUE(torch::equal(part, whole.slice(0, rank, 4 * (n / 4), 4)));
    for (int64_t i = 0; i < part.numel(); ++i) EXPECT_TRUE(seen.insert(part[i].item<int64_t>()).second);
    auto ids = torch::cat(epoch_ids(*ds, Split::Train, 4, {rank, 4}));
    EXPECT_TRUE(torch::equal(ids, part));
    EXPECT_EQ(ds->num_batches(Split::Train, {rank, 4}), (n / 4 + 49) / 50);
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), 4 * (n / 4));
  // The test split is partitioned without loss or overlap: the ranks' examples together are 0..249, once
  // each.
  std::vector<torch::Tensor> test_ids;
  for (int64_t rank = 0; rank < 3; ++rank)
    test_ids.push_back(torch::cat(epoch_ids(*ds, Split::Test, 0, {rank, 3})));
  EXPECT_TRUE(torch::equal(std::get<0>(torch::sort(torch::cat(test_ids))), torch::arange(250, torch::kLong)));
  EXPECT_THROW(ds->epoch(Split::Train, 0, {4, 4}), DataError);
  EXPECT_THROW(ds->epoch(Split::Train, 0, {0, 0}), DataError);
}

TEST(DataBatches, NormalizationConstantsAndDtype) {
  auto img = torch::tensor({0, 255, 51}, torch::kByte).view({1, 3, 1, 1});
  auto half = normalize(img, half_normalization(3), torch::kFloat32);
  EXPECT_NEAR(half[0][0][0][0].item<float>(), -1.0f, 1e-6);
  EXPECT_NEAR(half[0][1][0][0].item<float>(), 1.0f, 1e-6);
  auto cifar = normalize(img, cifar_normalization(), torch::kFloat64);
  EXPECT_EQ(cifar.scalar_type(), torch::kFloat64);
  EXPECT_NEAR(cifar[0][0][0][0].item<double>(), -0.4914 / 0.2023, 1e-5);
  EXPECT_NEAR(cifar[0][1][0][0].item<double>(), (1 - 0.4822) / 0.1994, 1e-5);
  EXPECT_NEAR(cifar[0][2][0][0].item<double>(), (0.2 - 0.4465) / 0.2010, 1e-5);
  auto inet = imagenet_normalization();
  EXPECT_EQ(inet.mean, std::vector<double>({0.485, 0.456, 0.406}));
  EXPECT_EQ(inet.std, std::vector<double>({0.229, 0.224, 0.225}));
  auto ds = numbered_dataset(DataOptions().dtype(torch::kFloat16));
  auto b = ds->epoch(Split::Train, 0)->next();
  EXPECT_EQ(b->images.scalar_type(), torch::kFloat16);
  EXPECT_EQ(b->labels.scalar_type(), torch::kLong);
}

TEST(DataBatches, RandomCropShiftsByTheOffsetAndPadsWithZero) {
  // One 1×4×4 image with values 1..16.
  auto img = torch::arange(1, 17, torch::kLong).to(torch::kByte).view({1, 1, 4, 4});
  auto imgs = img.expand({3, 1, 4, 4}).contiguous();
  auto oy = torch::tensor({2, 0, 4}, torch::kLong), ox = torch::tensor({2, 0, 3}, torch::kLong);
  auto out = random_crop(imgs, 2, oy, ox);
  EXPECT_EQ(out.sizes(), torch::IntArrayRef({3, 1, 4, 4}));
  EXPECT_TRUE(torch::equal(out[0], img[0]));  // offset = padding: the original
  // Offset 0: the image moves down-right by 2, zeros above and left.
  auto shifted = torch::zeros({4, 4}, torch::kByte);
  shifted.slice(0, 2, 4).slice(1, 2, 4).copy_(img[0][0].slice(0, 0, 2).slice(1, 0, 2));
  EXPECT_TRUE(torch::equal(out[1][0], shifted));
  // Offset (4, 3): up by 2, left by 1.
  auto up_left = torch::zeros({4, 4}, torch::kByte);
  up_left.slice(0, 0, 2).slice(1, 0, 3).copy_(img[0][0].slice(0, 2, 4).slice(1, 1, 4));
  EXPECT_TRUE(torch::equal(out[2][0], up_left));
}

TEST(DataBatches, FlipMirrorsOnlyTheFlaggedImages) {
  auto imgs = torch::arange(2 * 2 * 3 * 5, torch::kLong).to(torch::kByte).view({2, 2, 3, 5});
  auto out = random_horizontal_flip(imgs, torch::tensor({true, false}));
  EXPECT_TRUE(torch::equal(out[0], imgs[0].flip({2})));
  EXPECT_TRUE(torch::equal(out[1], imgs[1]));
}

TEST(DataBatches, AugmentationIsDrawnPerEpochAndOnlyForTraining) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto images = torch::randint(0, 256, {300, 3, 8, 8}, gen, torch::kLong).to(torch::kByte);
  ImageTensors split{images, torch::zeros({300}, torch::kLong)};
  auto opts = DataOptions().seed(4).shuffle(false).train_batch_size(300).test_batch_size(300);
  TensorDataset ds(opts, "aug", split, split, 10, half_normalization(3), Augmentation{4, true});
  auto plain = normalize(images, half_normalization(3), torch::kFloat32);
  auto test = ds.epoch(Split::Test, 0)->next();
  EXPECT_TRUE(torch::equal(test->images, plain));
  auto e0 = ds.epoch(Split::Train, 0)->next()->images;
  auto e0_again = ds.epoch(Split::Train, 0)->next()->images;
  auto e1 = ds.epoch(Split::Train, 1)->next()->images;
  EXPECT_TRUE(torch::equal(e0, e0_again));
  EXPECT_FALSE(torch::equal(e0, e1));
  EXPECT_EQ(e0.sizes(), plain.sizes());
  // Re-create the draws: each training image is its crop-and-flip of the original.
  auto draw_gen = epoch_generator(4, 0, 1);
  auto draws = draw_crop_flip(300, 4, true, draw_gen);
  auto expected = random_horizontal_flip(random_crop(images, 4, draws.offset_y, draws.offset_x), draws.flip);
  EXPECT_TRUE(torch::equal(e0, normalize(expected, half_normalization(3), torch::kFloat32)));
  // About half flipped, offsets spread over 0..8.
  const auto flips = draws.flip.sum().item<int64_t>();
  EXPECT_GT(flips, 100);
  EXPECT_LT(flips, 200);
  EXPECT_EQ(draws.offset_y.min().item<int64_t>(), 0);
  EXPECT_EQ(draws.offset_y.max().item<int64_t>(), 8);
  EXPECT_EQ(draws.offset_x.min().item<int64_t>(), 0);
  EXPECT_EQ(draws.offset_x.max().item<int64_t>(), 8);
  EXPECT_TRUE((draws.offset_x != draws.offset_y).any().item<bool>());  // not one offset for both axes
  // A few crops by plain slicing of the zero-padded original (not the library's own crop and flip).
  for (int64_t i : {0, 1, 2, 150, 299}) {
    SCOPED_TRACE(i);
    const int64_t oy = draws.offset_y[i].item<int64_t>(), ox = draws.offset_x[i].item<int64_t>();
    auto padded = torch::zeros({3, 16, 16}, torch::kByte);
    padded.slice(1, 4, 12).slice(2, 4, 12).copy_(images[i]);
    auto crop = padded.slice(1, oy, oy + 8).slice(2, ox, ox + 8);
    if (draws.flip[i].item<bool>()) crop = crop.flip({2});
    EXPECT_TRUE(torch::equal(e0[i], normalize(crop.unsqueeze(0), half_normalization(3), torch::kFloat32)[0]));
  }
  // With augmentation off the training split is the plain images too.
  TensorDataset off(DataOptions(opts).augment(false), "aug", split, split, 10, half_normalization(3),
                    Augmentation{4, true});
  EXPECT_TRUE(torch::equal(off.epoch(Split::Train, 0)->next()->images, plain));
}

TEST(DataBatches, AugmentationOfAnExampleDoesNotDependOnSharding) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
  auto images = torch::randint(0, 256, {64, 3, 8, 8}, gen, torch::kLong).to(torch::kByte);
  ImageTensors split{images, torch::zeros({64}, torch::kLong)};
  auto opts = DataOptions().seed(1).train_batch_size(64);
  TensorDataset ds(opts, "aug", split, split, 10, half_normalization(3), Augmentation{4, true});
  auto whole = ds.epoch(Split::Train, 2)->next()->images;
  auto rank1 = ds.epoch(Split::Train, 2, {1, 2})->next()->images;
  EXPECT_TRUE(torch::equal(rank1, whole.slice(0, 1, 64, 2)));
}

TEST(DataBatches, InvalidTensorsAreRejected) {
  auto good = numbered(10);
  ImageTensors bad_labels{good.images, torch::full({10}, 12, torch::kLong)};
  EXPECT_THROW(TensorDataset(DataOptions(), "x", bad_labels, good, 10, half_normalization(1), {}), DataError);
  ImageTensors floats{good.images.to(torch::kFloat32), good.labels};
  // Pixels in one split and features in the other.
  EXPECT_THROW(TensorDataset(DataOptions(), "x", floats, good, 10, half_normalization(1), {}), DataError);
  // Floating images are not normalized: a normalization given for them is a mistake, not ignored.
  expect_data_error([&] { TensorDataset(DataOptions(), "x", floats, floats, 10, half_normalization(1), {}); },
                    {"x: floating images are delivered as they are, expected an empty normalization"});
  EXPECT_NO_THROW(TensorDataset(DataOptions(), "x", floats, floats, 10, Normalization{}, {}));
  ImageTensors ints{good.images.to(torch::kInt), good.labels};
  EXPECT_THROW(TensorDataset(DataOptions(), "x", ints, ints, 10, Normalization{}, {}), DataError);
  EXPECT_THROW(
      TensorDataset(DataOptions().train_batch_size(0), "x", good, good, 10, half_normalization(1), {}),
      DataError);
  expect_data_error(
      [&] { TensorDataset(DataOptions("x").test_limit(-1), "x", good, good, 10, half_normalization(1), {}); },
      {"x: DataOptions train_limit, test_limit: expected >= 0 (0: every example), got 0 and -1"});
}

TEST(DataBatches, FloatingImagesComeAsTheyAreInTheOrderOfTheRealDatasets) {
  // Image i is the float i: a batch shows which examples it holds, and that nothing normalized them.
  // A dataset a test or an embedder builds from tensors visits an epoch in the order the real datasets
  // draw for the same (seed, epoch, shard), so run.json's seeds.shuffle names what ran for both.
  const int64_t n = 50;
  auto ids = torch::arange(n, torch::kFloat).view({n, 1, 1, 1});
  ImageTensors split{ids, torch::zeros({n}, torch::kLong)};
  TensorDataset ds(DataOptions().seed(11).train_batch_size(7).test_batch_size(10), "ids", split, split, 2,
                   Normalization{}, Augmentation{});
  for (const Shard shard : {Shard{0, 1}, Shard{1, 3}}) {
    std::vector<torch::Tensor> seen;
    auto stream = ds.epoch(Split::Train, 3, shard);
    while (auto b = stream->next()) {
      EXPECT_LE(b->images.size(0), 7);
      EXPECT_EQ(b->images.scalar_type(), torch::kFloat32);
      seen.push_back(b->images.flatten().to(torch::kLong));
    }
    EXPECT_TRUE(torch::equal(torch::cat(seen), epoch_indices(n, true, 11, 3, shard, true)))
        << "shard " << shard.rank << "/" << shard.world_size;
  }
  EXPECT_EQ(ds.generator(), "data::epoch_generator(run_seed, epoch)");
  // In the options' dtype, values unchanged; the test split in file order.
  TensorDataset half(DataOptions().dtype(torch::kFloat16).test_batch_size(64), "ids", split, split, 2,
                     Normalization{}, Augmentation{});
  auto b = half.epoch(Split::Test, 0)->next();
  EXPECT_EQ(b->images.scalar_type(), torch::kFloat16);
  EXPECT_TRUE(torch::equal(b->images, ids.to(torch::kFloat16)));
}

TEST(DataBatches, LimitsCutEveryEpochToItsFirstPositionsOnEveryShard) {
  const int64_t n = 1003;
  auto limited =
      numbered_dataset(DataOptions().seed(9).train_batch_size(50).train_limit(301).test_limit(101), n);
  // One process: the first 301 positions of the epoch's permutation, in batches of 50 (the last holds 1).
  auto whole = epoch_indices(n, true, 9, 4, {}, true);
  auto ids = epoch_ids(*limited, Split::Train, 4);
  ASSERT_EQ(ids.size(), 7u);
  EXPECT_EQ(ids.back().numel(), 1);
  EXPECT_TRUE(torch::equal(torch::cat(ids), whole.slice(0, 0, 301)));
  EXPECT_EQ(limited->num_examples(Split::Train), 301);
  EXPECT_EQ(limited->num_batches(Split::Train), 7);
  // Another epoch, another subset.
  EXPECT_FALSE(torch::equal(std::get<0>(torch::sort(torch::cat(epoch_ids(*limited, Split::Train, 5)))),
                            std::get<0>(torch::sort(whole.slice(0, 0, 301)))));
  // Four ranks: 301 / 4 = 75 each, every rank's first 75 strided positions: together the epoch's first 300.
  for (int64_t rank = 0; rank < 4; ++rank) {
    auto part = torch::cat(epoch_ids(*limited, Split::Train, 4, {rank, 4}));
    EXPECT_EQ(limited->num_examples(Split::Train, {rank, 4}), 75);
    EXPECT_TRUE(torch::equal(part, whole.slice(0, rank, 300, 4))) << "rank " << rank;
  }
  // The test split: the first 101 in order; over 3 ranks 34 + 34 + 33, without loss or overlap.
  EXPECT_TRUE(
      torch::equal(torch::cat(epoch_ids(*limited, Split::Test, 0)), torch::arange(101, torch::kLong)));
  std::vector<torch::Tensor> test_parts;
  for (int64_t rank = 0; rank < 3; ++rank) {
    test_parts.push_back(torch::cat(epoch_ids(*limited, Split::Test, 0, {rank, 3})));
    EXPECT_EQ(test_parts.back().numel(), limited->num_examples(Split::Test, {rank, 3}));
    EXPECT_EQ(test_parts.back().numel(), rank < 2 ? 34 : 33);
  }
  EXPECT_TRUE(
      torch::equal(std::get<0>(torch::sort(torch::cat(test_parts))), torch::arange(101, torch::kLong)));
  // drop_last applies to what the limit leaves; a limit beyond the split changes nothing.
  auto dropped =
      numbered_dataset(DataOptions().seed(9).train_batch_size(50).train_limit(301).drop_last(true), n);
  EXPECT_EQ(dropped->num_examples(Split::Train), 300);
  EXPECT_TRUE(torch::equal(torch::cat(epoch_ids(*dropped, Split::Train, 4)), whole.slice(0, 0, 300)));
  auto beyond = numbered_dataset(DataOptions().train_limit(5000).test_limit(5000), n, 250);
  EXPECT_EQ(beyond->num_examples(Split::Train), n);
  EXPECT_EQ(beyond->num_examples(Split::Test), 250);
  EXPECT_EQ(beyond->describe(), "numbered (1003 train / 250 test examples per epoch)");
  EXPECT_EQ(limited->describe({1, 4}), "numbered (75 train / 25 test examples per epoch)");
}

TEST(DataBatches, GeneratorNamesTheRandomStreamThatRuns) {
  const std::string drawn = "data::epoch_generator(run_seed, epoch)";
  EXPECT_EQ(numbered_dataset(DataOptions())->generator(), drawn);
  EXPECT_EQ(numbered_dataset(DataOptions().shuffle(false))->generator(),
            "none (unshuffled, no augmentation)");
  // Augmentation draws from the same (seed, epoch) stream, unshuffled or not; switched off, nothing is drawn.
  EXPECT_EQ(numbered_dataset(DataOptions().shuffle(false), 1000, 250, Augmentation{4, false})->generator(),
            drawn);
  EXPECT_EQ(numbered_dataset(DataOptions().shuffle(false).augment(false), 1000, 250, Augmentation{4, true})
                ->generator(),
            "none (unshuffled, no augmentation)");
}

}  // namespace
}  // namespace tiebreak::data

namespace tiebreak::data {
namespace {

TEST(DataBatchesCuda, BatchesOnCudaEqualThoseOnTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (skipped, not failed)";
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  auto images = torch::randint(0, 256, {500, 3, 8, 8}, gen, torch::kLong).to(torch::kByte);
  ImageTensors split{images, torch::arange(500, torch::kLong).remainder(10)};
  auto opts = DataOptions().seed(3);
  TensorDataset cpu(opts, "x", split, split, 10, cifar_normalization(), Augmentation{4, true});
  TensorDataset cuda(DataOptions(opts).device(torch::kCUDA), "x", split, split, 10, cifar_normalization(),
                     Augmentation{4, true});
  auto a = cpu.epoch(Split::Train, 1);
  auto b = cuda.epoch(Split::Train, 1);
  while (auto x = a->next()) {
    auto y = b->next();
    ASSERT_TRUE(y.has_value());
    EXPECT_TRUE(y->images.is_cuda());
    EXPECT_TRUE(torch::allclose(x->images, y->images.cpu(), 1e-6, 1e-6));
    EXPECT_TRUE(torch::equal(x->labels, y->labels.cpu()));
  }
}

}  // namespace
}  // namespace tiebreak::data
