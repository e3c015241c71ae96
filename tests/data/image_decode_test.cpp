// Images decoded by content, as a real ImageNet copy needs: PNGs (one sits in
// ILSVRC-2012's training set under a .JPEG name) of every colour type and bit
// depth, checked pixel for pixel against what the test wrote (PNG is lossless);
// JPEGs in every colour space; anything else a one-line error naming the file.
// tests/python/test_image_decode.py compares the same decoder with PIL.
#include "tiebreak/data/image_decode.h"

#include "data/fixtures.h"
#include "support/test_support.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/data/imagenet.h"
#include "tiebreak/data/registry.h"
#include "tiebreak/data/verify.h"
#include "tiebreak/train/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tiebreak::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using tiebreak::testing::encode_jpeg;
using tiebreak::testing::encode_png;
using tiebreak::testing::expect_data_error;
using tiebreak::testing::TempDir;
using tiebreak::testing::write_bytes;

/// Random bytes from a fixed seed.
std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto t = torch::randint(0, 256, {static_cast<int64_t>(n)}, gen, torch::kLong).to(torch::kByte);
  return std::vector<uint8_t>(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + n);
}

/// uint8 [3, H, W] from interleaved RGB bytes.
torch::Tensor planar(const std::vector<uint8_t>& rgb, int64_t h, int64_t w) {
  return torch::from_blob(const_cast<uint8_t*>(rgb.data()), {h, w, 3}, torch::kByte)
      .permute({2, 0, 1})
      .clone();
}

TEST(ImageDecode, TellsFormatsByTheirSignature) {
  auto sniff = [](const std::string& bytes) {
    return sniff_image_format(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  };
  EXPECT_EQ(sniff("\xFF\xD8\xFF\xE0rest"), ImageFormat::Jpeg);
  EXPECT_EQ(sniff(std::string("\x89PNG\r\n\x1A\n", 8) + "IHDR"), ImageFormat::Png);
  EXPECT_EQ(sniff("GIF89a..."), ImageFormat::Gif);
  EXPECT_EQ(sniff("BM......"), ImageFormat::Bmp);
  EXPECT_EQ(sniff(std::string("RIFF\x10\x00\x00\x00WEBPVP8 ", 16)), ImageFormat::Webp);
  EXPECT_EQ(sniff(std::string("II*\0", 4)), ImageFormat::Tiff);
  EXPECT_EQ(sniff("\x89PN"), ImageFormat::Unknown);
  EXPECT_EQ(sniff(""), ImageFormat::Unknown);
}

TEST(ImageDecode, RgbPngIsExactWhateverTheName) {
  const auto rgb = random_bytes(3 * 7 * 5, 1);
  const auto png = encode_png(rgb, 5, 7, PNG_COLOR_TYPE_RGB, 8);
  EXPECT_TRUE(torch::equal(decode_image(png, "n02105855_2933.JPEG"), planar(rgb, 7, 5)));
}

TEST(ImageDecode, InterlacedPngIsExact) {
  const auto rgb = random_bytes(3 * 13 * 11, 2);
  EXPECT_TRUE(torch::equal(decode_png(encode_png(rgb, 11, 13, PNG_COLOR_TYPE_RGB, 8, true), "x.png"),
                           planar(rgb, 13, 11)));
}

TEST(ImageDecode, AlphaIsDroppedNotComposited) {
  auto rgba = random_bytes(4 * 6 * 4, 3);
  for (size_t i = 3; i < rgba.size(); i += 4) rgba[i] = static_cast<uint8_t>(i % 2 ? 0 : 128);
  std::vector<uint8_t> rgb;
  for (size_t i = 0; i < rgba.size(); i += 4) rgb.insert(rgb.end(), rgba.begin() + i, rgba.begin() + i + 3);
  EXPECT_TRUE(
      torch::equal(decode_png(encode_png(rgba, 4, 6, PNG_COLOR_TYPE_RGBA, 8), "a.png"), planar(rgb, 6, 4)));
  // Gray + alpha: the gray value in all three channels.
  std::vector<uint8_t> la{10, 0, 200, 255, 77, 3, 255, 100};
  auto out = decode_png(encode_png(la, 2, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 8), "la.png");
  for (int c = 0; c < 3; ++c)
    EXPECT_TRUE(torch::equal(out[c].flatten(), torch::tensor({10, 200, 77, 255}, torch::kByte)));
}

TEST(ImageDecode, GrayOfEveryBitDepthIsScaledAsPilDoes) {
  // 1-bit 0/1 → 0/255, 2-bit v → 85·v, 4-bit v → 17·v, 8-bit as is; replicated to RGB.
  struct Case {
    int depth;
    std::vector<uint8_t> packed;  // one row of 8 pixels
    std::vector<int> expected;
  };
  const std::vector<Case> cases{{1, {0b10110001}, {255, 0, 255, 255, 0, 0, 0, 255}},
                                {2, {0b00011011, 0b11100100}, {0, 85, 170, 255, 255, 170, 85, 0}},
                                {4, {0x01, 0x23, 0xEF, 0x7A}, {0, 17, 34, 51, 238, 255, 119, 170}},
                                {8, {0, 1, 127, 128, 200, 254, 255, 9}, {0, 1, 127, 128, 200, 254, 255, 9}}};
  for (const auto& c : cases) {
    auto out = decode_png(encode_png(c.packed, 8, 1, PNG_COLOR_TYPE_GRAY, c.depth), "g.png");
    ASSERT_EQ(out.sizes(), torch::IntArrayRef({3, 1, 8})) << c.depth;
    for (int ch = 0; ch < 3; ++ch)
      EXPECT_TRUE(torch::equal(out[ch].flatten().to(torch::kInt), torch::tensor(c.expected, torch::kInt)))
          << "depth " << c.depth << " channel " << ch << ": " << out[ch];
  }
}

TEST(ImageDecode, SixteenBitSamplesKeepTheHighByteAndSixteenBitGrayClipsLikePil) {
  // RGB 16: PIL's RGB;16B unpacker keeps the high byte.
  std::vector<uint8_t> rgb16{0x12, 0x34, 0xAB, 0xCD, 0x00, 0xFF, 0xFF, 0x00, 0x01, 0x01, 0x80, 0x7F};
  auto rgb = decode_png(encode_png(rgb16, 2, 1, PNG_COLOR_TYPE_RGB, 16), "rgb16.png");
  EXPECT_TRUE(torch::equal(rgb.permute({1, 2, 0}).flatten(),
                           torch::tensor({0x12, 0xAB, 0x00, 0xFF, 0x01, 0x80}, torch::kByte)));
  // Gray 16: PIL opens it as I;16, and I;16 → RGB clips at 255 instead of scaling.
  std::vector<uint8_t> gray16{0x00, 0x00, 0x00, 0xFF, 0x01, 0x00, 0xFF, 0xFF};
  auto gray = decode_png(encode_png(gray16, 4, 1, PNG_COLOR_TYPE_GRAY, 16), "gray16.png");
  EXPECT_TRUE(torch::equal(gray[1].flatten(), torch::tensor({0, 255, 255, 255}, torch::kByte)));
}

TEST(ImageDecode, PaletteIsLookedUpAndItsTransparencyIgnored) {
  const std::vector<uint8_t> palette{255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7};
  const std::vector<uint8_t> indices{0, 1, 2, 3, 3, 2};
  auto out =
      decode_png(encode_png(indices, 3, 2, PNG_COLOR_TYPE_PALETTE, 8, false, palette, {0, 128}), "p.png");
  std::vector<uint8_t> expected;
  for (auto i : indices)
    expected.insert(expected.end(), palette.begin() + 3 * i, palette.begin() + 3 * i + 3);
  EXPECT_TRUE(torch::equal(out, planar(expected, 2, 3)));
  // 2-bit indices, packed four to a byte.
  auto packed =
      decode_png(encode_png({0b00011011}, 4, 1, PNG_COLOR_TYPE_PALETTE, 2, false, palette), "p2.png");
  EXPECT_TRUE(torch::equal(packed, planar({255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7}, 1, 4)));
}

TEST(ImageDecode, DamagedAndUnsupportedFilesAreOneLineErrorsNamingTheFile) {
  const auto png = encode_png(random_bytes(3 * 16 * 16, 4), 16, 16, PNG_COLOR_TYPE_RGB, 8);
  expect_data_error(
      [&] {
        decode_image({png.begin(), png.begin() + png.size() / 2}, "half.JPEG");
      },
      {"half.JPEG: corrupt PNG ("});
  auto flipped = png;
  flipped[png.size() / 2] ^= 0x40;  // inside the image data: its CRC no longer matches
  expect_data_error([&] { decode_image(flipped, "flipped.png"); }, {"flipped.png: corrupt PNG"});
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  expect_data_error(
      [&] {
        decode_image({gif.begin(), gif.end()}, "anim.JPEG");
      },
      {"anim.JPEG: a GIF image; tiebreak decodes JPEG and PNG"});
  expect_data_error(
      [&] {
        decode_image({0x00, 0x01, 0x02}, "junk.JPEG");
      },
      {"junk.JPEG: not a JPEG or PNG image (it starts with 0x00 0x01)"});
  expect_data_error([&] { decode_image({}, "empty.JPEG"); }, {"empty.JPEG: empty file"});
  const auto jpeg = encode_jpeg(testing::class_image(0, 32, 32));
  expect_data_error(
      [&] {
        decode_image({jpeg.begin(), jpeg.begin() + 200}, "cut.JPEG");
      },
      {"cut.JPEG: corrupt JPEG"});
}

TEST(ImageDecode, GrayscaleAndProgressiveJpegsDecodeToRgb) {
  auto gray =
      torch::arange(0, 256, torch::kLong).remainder(251).to(torch::kByte).reshape({16, 16}).contiguous();
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(h, gray.data_ptr<uint8_t>(), 16, 0, 16, TJPF_GRAY, &buf, &size, TJSAMP_GRAY, 100, 0),
            0);
  std::vector<uint8_t> jpeg(buf, buf + size);
  tjFree(buf);
  auto rgb = decode_image(jpeg, "gray.JPEG");
  EXPECT_EQ(rgb.sizes(), torch::IntArrayRef({3, 16, 16}));
  EXPECT_TRUE(torch::equal(rgb[0], rgb[1]) && torch::equal(rgb[1], rgb[2]));
  EXPECT_LE((rgb[0].to(torch::kInt) - gray.to(torch::kInt)).abs().max().item<int>(), 2);

  auto colour = testing::class_image(2, 24, 24);
  auto hwc = colour.permute({1, 2, 0}).contiguous();
  buf = nullptr;
  ASSERT_EQ(tjCompress2(h, hwc.data_ptr<uint8_t>(), 24, 0, 24, TJPF_RGB, &buf, &size, TJSAMP_420, 90,
                        TJFLAG_PROGRESSIVE),
            0);
  std::vector<uint8_t> progressive(buf, buf + size);
  tjFree(buf);
  tjDestroy(h);
  EXPECT_LE(
      (decode_image(progressive, "p.JPEG").to(torch::kInt) - colour.to(torch::kInt)).abs().max().item<int>(),
      4);
}

TEST(ImageDecode, AdobeCmykJpegConvertsWithPilsIntegerFormula) {
  // Every (C, K) pair on a grid, as stored (Adobe inverted): R = K - round((255 - C)·K / 255).
  const int n = 16;
  auto cmyk = torch::empty({n, n, 4}, torch::kByte);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      cmyk[i][j][0] = i * 17;
      cmyk[i][j][1] = 255 - i * 17;
      cmyk[i][j][2] = 128;
      cmyk[i][j][3] = j * 17;
    }
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  // Quality 100 without subsampling keeps these flat blocks nearly exact; the
  // comparison below uses what libjpeg actually decodes, so it is exact anyway.
  ASSERT_EQ(tjCompress2(h, cmyk.data_ptr<uint8_t>(), n, 0, n, TJPF_CMYK, &buf, &size, TJSAMP_444, 100, 0), 0);
  std::vector<uint8_t> jpeg(buf, buf + size);
  tjFree(buf);
  tjDestroy(h);
  tjhandle d = tjInitDecompress();
  auto raw = torch::empty({n, n, 4}, torch::kByte);
  ASSERT_EQ(tjDecompress2(d, jpeg.data(), jpeg.size(), raw.data_ptr<uint8_t>(), n, 0, n, TJPF_CMYK, 0), 0);
  tjDestroy(d);
  auto rgb = decode_image(jpeg, "cmyk.JPEG");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int c = 0; c < 3; ++c) {
        const int stored = raw[i][j][c].item<int>(), k = raw[i][j][3].item<int>();
        const int expected = k - static_cast<int>(std::lround((255 - stored) * k / 255.0));
        ASSERT_EQ(rgb[c][i][j].item<int>(), expected) << "C " << stored << " K " << k;
      }
}

/// An ImageNet folder holding what the real one holds besides RGB baseline
/// JPEGs: a PNG under a .JPEG name, a grayscale and a CMYK JPEG.
void write_mixed_imagenet(const fs::path& root) {
  testing::write_tiny_imagenet(root, 3, 1);
  const auto rgb = random_bytes(3 * 40 * 30, 5);
  write_bytes(root / "train" / "n01443537" / "n01443537_1.JPEG",
              encode_png(rgb, 30, 40, PNG_COLOR_TYPE_RGB, 8));
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  auto gray = torch::full({24, 20}, 90, torch::kByte);
  tjCompress2(h, gray.data_ptr<uint8_t>(), 20, 0, 24, TJPF_GRAY, &buf, &size, TJSAMP_GRAY, 90, 0);
  write_bytes(root / "train" / "n01484850" / "n01484850_7.JPEG", std::vector<uint8_t>(buf, buf + size));
  tjFree(buf);
  buf = nullptr;
  auto cmyk = torch::full({20, 26, 4}, 200, torch::kByte);
  tjCompress2(h, cmyk.data_ptr<uint8_t>(), 26, 0, 20, TJPF_CMYK, &buf, &size, TJSAMP_444, 90, 0);
  write_bytes(root / "train" / "n01440764" / "n01440764_8.JPEG", std::vector<uint8_t>(buf, buf + size));
  tjFree(buf);
  tjDestroy(h);
}

TEST(ImageDecode, AnImageNetFolderWithAPngNamedJpegTrainsOneEpochOnEveryImage) {
  TempDir tmp;
  write_mixed_imagenet(tmp / "imagenet");
  const auto config = tmp / "imagenet.json";
  std::ofstream(config) << nlohmann::json{
      {"data",
       {{"dataset", "imagenet"},
        {"root", tmp.path().string()},
        {"crop_size", 32},
        {"resize_size", 36},
        {"batch_size", 4},
        {"test_batch_size", 3},
        {"num_workers", 2}}},
      {"model", {{"name", "lenet5"}}},
      {"train", {{"epochs", 1}, {"optimizer", {{"name", "sgd"}, {"lr", 0.01}}}}},
      {"exp",
       {{"device", "cpu"},
        {"threads", 1}}}}.dump();
  auto r = tiebreak::testing::run_tiebreak("train " + config.string() + " --no-progress --out " +
                                           (tmp / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 3 classes x 3 training images + the two extra JPEGs; every one went through the epoch.
  const auto log = tiebreak::read_text(tmp / "out" / "run-0" / "train.log");
  EXPECT_THAT(log, HasSubstr("imagenet (11 train / 3 test examples per epoch)"));
  auto metrics = tiebreak::read_csv(tmp / "out" / "run-0" / "metrics.csv");
  ASSERT_EQ(metrics.rows.size(), 1u);
  EXPECT_TRUE(std::isfinite(std::stod(metrics.rows[0][metrics.index("train_loss")])));
}

TEST(ImageDecode, DataVerifyDecodeListsExactlyTheImagesThatFail) {
  TempDir tmp;
  const auto root = tmp / "imagenet";
  write_mixed_imagenet(root);
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  write_bytes(root / "train" / "n01440764" / "n01440764_9.JPEG", {gif.begin(), gif.end()});
  auto jpeg = encode_jpeg(testing::class_image(1, 40, 40));
  write_bytes(root / "val" / "n01443537" / "cut.JPEG", {jpeg.begin(), jpeg.begin() + jpeg.size() / 3});

  // Counting files, as verify does without --decode, calls the folder fine.
  EXPECT_EQ(verify_dataset("imagenet", tmp.path()).status, DatasetReport::Status::Subset);
  auto report = verify_dataset("imagenet", tmp.path(), VerifyOptions().decode(true).threads(2));
  EXPECT_EQ(report.status, DatasetReport::Status::Corrupt);
  EXPECT_EQ(report.decoded, 12 + 4 - 2);
  ASSERT_EQ(report.problems.size(), 2u) << ::testing::PrintToString(report.problems);
  EXPECT_THAT(report.problems[0], HasSubstr("n01440764_9.JPEG: a GIF image"));
  EXPECT_THAT(report.problems[1], HasSubstr("cut.JPEG: corrupt JPEG"));
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_THAT(report.notes[0], HasSubstr("n01443537_1.JPEG: a PNG image under a .JPEG name"));

  auto cli = tiebreak::testing::run_tiebreak("data verify imagenet --decode --root " + tmp.path().string());
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_THAT(cli.out, HasSubstr("imagenet: 14 of 16 images decoded"));
  EXPECT_THAT(cli.out, HasSubstr("n01440764_9.JPEG: a GIF image"));
  EXPECT_THAT(cli.out, HasSubstr("cut.JPEG: corrupt JPEG"));
  EXPECT_THAT(cli.out, Not(HasSubstr("n01440764_8.JPEG")));  // the CMYK one decodes
}

}  // namespace
}  // namespace tiebreak::data
