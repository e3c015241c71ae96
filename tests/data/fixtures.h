#pragma once

// Writers for data-test fixtures in the real distribution formats: IDX (raw or gzipped),
// CIFAR binary records, SVHN .mat (libmatio), JPEG (libturbojpeg) and PNG (libpng).

#include "tiebreak/data/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <matio.h>
#include <png.h>
#include <torch/torch.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace tiebreak::testing {

/// Expects `f` to throw a data::DataError whose message contains every fragment.
template <typename F>
void expect_data_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected a DataError";
  } catch (const data::DataError& e) {
    for (const auto& fragment : fragments) EXPECT_THAT(e.what(), ::testing::HasSubstr(fragment));
  }
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes,
                        bool gzip = false) {
  std::filesystem::create_directories(path.parent_path());
  if (gzip) {
    gzFile gz = gzopen(path.c_str(), "wb6");
    ASSERT_NE(gz, nullptr) << path;
    if (!bytes.empty())
      ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())), int(bytes.size()));
    ASSERT_EQ(gzclose(gz), Z_OK);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::vector<uint8_t> read_raw_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

inline std::vector<uint8_t> tensor_bytes(const torch::Tensor& t) {
  auto c = t.to(torch::kByte).contiguous();
  return std::vector<uint8_t>(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + c.numel());
}

/// IDX image file content: magic 0x803, N, H, W, then the pixels of uint8 [N, H, W].
inline std::vector<uint8_t> idx_images(const torch::Tensor& images, uint32_t magic = 0x00000803,
                                       int64_t header_count = -1) {
  std::vector<uint8_t> out;
  put_be32(out, magic);
  put_be32(out, static_cast<uint32_t>(header_count < 0 ? images.size(0) : header_count));
  put_be32(out, static_cast<uint32_t>(images.size(1)));
  put_be32(out, static_cast<uint32_t>(images.size(2)));
  auto pixels = tensor_bytes(images);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

/// IDX label file content: magic 0x801, N, then the labels.
inline std::vector<uint8_t> idx_labels(const torch::Tensor& labels, uint32_t magic = 0x00000801) {
  std::vector<uint8_t> out;
  put_be32(out, magic);
  put_be32(out, static_cast<uint32_t>(labels.size(0)));
  auto bytes = tensor_bytes(labels);
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

/// Random uint8 images [N, H, W] and labels [N] in 0..classes-1 from a fixed seed.
inline std::pair<torch::Tensor, torch::Tensor> random_idx(int64_t n, int64_t h, int64_t w, uint64_t seed,
                                                          int64_t classes = 10) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto images = torch::randint(0, 256, {n, h, w}, gen, torch::kLong).to(torch::kByte);
  auto labels = torch::randint(0, classes, {n}, gen, torch::kLong);
  return {images, labels};
}

/// Writes the four IDX files of an MNIST-layout folder.
inline void write_idx_dataset(const std::filesystem::path& dir, int64_t n_train, int64_t n_test, bool gzip,
                              uint64_t seed = 1) {
  const std::string ext = gzip ? ".gz" : "";
  auto [tx, ty] = random_idx(n_train, 28, 28, seed);
  auto [vx, vy] = random_idx(n_test, 28, 28, seed + 1);
  write_bytes(dir / ("train-images-idx3-ubyte" + ext), idx_images(tx), gzip);
  write_bytes(dir / ("train-labels-idx1-ubyte" + ext), idx_labels(ty), gzip);
  write_bytes(dir / ("t10k-images-idx3-ubyte" + ext), idx_images(vx), gzip);
  write_bytes(dir / ("t10k-labels-idx1-ubyte" + ext), idx_labels(vy), gzip);
}

/// CIFAR records: per record `label_bytes` labels (CIFAR-100: coarse, fine) then 3072 planar RGB bytes.
inline std::vector<uint8_t> cifar_records(const torch::Tensor& images, const torch::Tensor& labels,
                                          const torch::Tensor& coarse = {}) {
  std::vector<uint8_t> out;
  auto img = images.to(torch::kByte).contiguous();
  for (int64_t i = 0; i < images.size(0); ++i) {
    if (coarse.defined()) out.push_back(static_cast<uint8_t>(coarse[i].item<int64_t>()));
    out.push_back(static_cast<uint8_t>(labels[i].item<int64_t>()));
    auto bytes = tensor_bytes(img[i]);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

/// Writes an SVHN-format .mat (X uint8 32x32x3xN column-major, y double Nx1 with 10 for digit 0)
/// from uint8 images [N, 3, 32, 32] and labels 0..9 (or raw y values when `raw_y`).
inline void write_svhn_mat(const std::filesystem::path& path, const torch::Tensor& images,
                           const torch::Tensor& y, bool raw_y = false, enum mat_ft version = MAT_FT_MAT5) {
  std::filesystem::create_directories(path.parent_path());
  const int64_t n = images.size(0);
  // C order [n][c][w][h] is MATLAB's column-major (h, w, c, n).
  auto x = images.transpose(2, 3).contiguous();
  auto labels = raw_y ? y.to(torch::kFloat64).contiguous()
                      : torch::where(y.eq(0), torch::full_like(y, 10), y).to(torch::kFloat64).contiguous();
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, version);
  ASSERT_NE(mat, nullptr) << path;
  size_t xdims[4] = {32, 32, 3, static_cast<size_t>(n)};
  matvar_t* xv = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, xdims, x.data_ptr<uint8_t>(), 0);
  ASSERT_NE(xv, nullptr);
  ASSERT_EQ(Mat_VarWrite(mat, xv, MAT_COMPRESSION_ZLIB), 0);
  Mat_VarFree(xv);
  size_t ydims[2] = {static_cast<size_t>(labels.size(0)), 1};
  matvar_t* yv = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, ydims, labels.data_ptr<double>(), 0);
  ASSERT_NE(yv, nullptr);
  ASSERT_EQ(Mat_VarWrite(mat, yv, MAT_COMPRESSION_NONE), 0);
  Mat_VarFree(yv);
  Mat_Close(mat);
}

/// JPEG-compresses uint8 RGB [3, H, W] at quality 95.
inline std::vector<uint8_t> encode_jpeg(const torch::Tensor& image) {
  auto hwc = image.permute({1, 2, 0}).contiguous();
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  int rc = tjCompress2(h, hwc.data_ptr<uint8_t>(), static_cast<int>(image.size(2)), 0,
                       static_cast<int>(image.size(1)), TJPF_RGB, &buf, &size, TJSAMP_444, 95, 0);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(h);
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  tjDestroy(h);
  return out;
}

/// A PNG of `height` rows of `row_bytes` bytes each, packed as PNG stores them
/// (samples big-endian, sub-byte samples high bits first), of the given colour
/// type and bit depth; `palette` (RGB triples) and `trns` (tRNS chunk) when
/// given; Adam7 interlaced when `interlaced`.
inline std::vector<uint8_t> encode_png(const std::vector<uint8_t>& packed, uint32_t width, uint32_t height,
                                       int color_type, int bit_depth, bool interlaced = false,
                                       const std::vector<uint8_t>& palette = {},
                                       const std::vector<uint8_t>& trns = {}) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        auto* o = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
        o->insert(o->end(), data, data + n);
      },
      nullptr);
  png_set_IHDR(png, info, width, height, bit_depth, color_type,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> colours;
  for (size_t i = 0; i + 2 < palette.size(); i += 3)
    colours.push_back({palette[i], palette[i + 1], palette[i + 2]});
  if (!colours.empty()) png_set_PLTE(png, info, colours.data(), static_cast<int>(colours.size()));
  if (!trns.empty()) {
    png_color_16 gray_trns{};
    png_set_tRNS(png, info, trns.data(), static_cast<int>(trns.size()), &gray_trns);
  }
  png_write_info(png, info);
  const size_t row_bytes = packed.size() / height;
  std::vector<png_bytep> rows(height);
  for (uint32_t y = 0; y < height; ++y) rows[y] = const_cast<uint8_t*>(packed.data()) + y * row_bytes;
  png_write_image(png, rows.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

/// A solid-colour image per class, so JPEG keeps the colour.
inline torch::Tensor class_image(int64_t cls, int64_t h, int64_t w) {
  static const int colours[3][3] = {{220, 30, 30}, {30, 200, 40}, {20, 40, 210}};
  auto img = torch::empty({3, h, w}, torch::kByte);
  for (int c = 0; c < 3; ++c) img[c].fill_(colours[cls % 3][c]);
  return img;
}

/// An ImageNet-layout folder: train/<wnid>/*.JPEG and val/<wnid>/*.JPEG with three classes of
/// varied image sizes.
inline void write_tiny_imagenet(const std::filesystem::path& root, int per_class_train, int per_class_val) {
  const char* wnids[3] = {"n01440764", "n01443537", "n01484850"};
  for (int cls = 0; cls < 3; ++cls) {
    for (int i = 0; i < per_class_train; ++i) {
      auto img = class_image(cls, 40 + 7 * i, 60 - 3 * i);
      write_bytes(root / "train" / wnids[cls] / (std::string(wnids[cls]) + "_" + std::to_string(i) + ".JPEG"),
                  encode_jpeg(img));
    }
    for (int i = 0; i < per_class_val; ++i) {
      write_bytes(root / "val" / wnids[cls] / ("ILSVRC2012_val_" + std::to_string(cls * 10 + i) + ".JPEG"),
                  encode_jpeg(class_image(cls, 50, 45)));
    }
  }
}

}  // namespace tiebreak::testing
