#include "tiebreak/data/image_decode.h"

#include "tiebreak/core/text_file.h"

#include "tiebreak/data/error.h"

#include <fmt/format.h>
#include <png.h>
#include <torch/library.h>
#include <turbojpeg.h>

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstring>
#include <memory>

namespace tiebreak::data {

namespace fs = std::filesystem;

namespace {

bool starts_with(const uint8_t* bytes, size_t size, const char* signature, size_t length, size_t offset = 0) {
  return size >= offset + length && std::memcmp(bytes + offset, signature, length) == 0;
}

struct TjCloser {
  void operator()(void* h) const { tjDestroy(h); }
};

/// PIL's MULDIV255 (libImaging/Convert.c): round(a·b / 255) in integers.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// --- PNG (libpng) --------------------------------------------------------
//
// libpng reports errors by longjmp. Only the two functions below run between
// setjmp and a possible longjmp, and they own no C++ object whose destructor a
// longjmp could skip: the buffers they fill belong to the caller.

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t offset;
  char error[200];
};

void png_read_from_memory(png_structp png, png_bytep out, png_size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (source->size - source->offset < length) png_error(png, "the file ends in the middle of the image");
  std::memcpy(out, source->data + source->offset, length);
  source->offset += length;
}

void png_record_error(png_structp png, png_const_charp message) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(source->error, sizeof source->error, "%s", message);
  png_longjmp(png, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}

struct PngLayout {
  png_uint_32 width = 0, height = 0;
  /// 16-bit grayscale is read as it is (2 bytes a pixel) and clipped afterwards, as PIL does.
  bool gray16 = false;
  size_t row_bytes = 0;
};

/// Reads the header and sets up the conversion to 8-bit RGB; false (error in
/// the source) on a malformed file.
bool png_prepare(png_structp png, png_infop info, PngLayout* layout) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  layout->gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16 && !layout->gray16) png_set_strip_16(png);  // the high byte, as PIL's ;16B unpackers
  // Alpha (or a palette's tRNS, which palette expansion turns into alpha) is
  // dropped, not composited: PIL's convert("RGB").
  png_set_strip_alpha(png);
  if ((color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) && !layout->gray16)
    png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->width = png_get_image_width(png, info);
  layout->height = png_get_image_height(png, info);
  layout->row_bytes = png_get_rowbytes(png, info);
  const size_t expected = static_cast<size_t>(layout->width) * (layout->gray16 ? 2 : 3);
  if (png_get_channels(png, info) != (layout->gray16 ? 1 : 3) || layout->row_bytes != expected)
    png_error(png, "unexpected pixel layout after conversion to RGB");
  return true;
}

bool png_read_rows(png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, info);
  return true;
}

}  // namespace

const char* to_string(ImageFormat format) {
  switch (format) {
    case ImageFormat::Jpeg:
      return "JPEG";
    case ImageFormat::Png:
      return "PNG";
    case ImageFormat::Gif:
      return "GIF";
    case ImageFormat::Bmp:
      return "BMP";
    case ImageFormat::Webp:
      return "WebP";
    case ImageFormat::Tiff:
      return "TIFF";
    case ImageFormat::Unknown:
      return "unknown";
  }
  return "unknown";
}

ImageFormat sniff_image_format(const uint8_t* bytes, size_t size) {
  if (starts_with(bytes, size, "\xFF\xD8\xFF", 3)) return ImageFormat::Jpeg;
  if (starts_with(bytes, size, "\x89PNG\r\n\x1A\n", 8)) return ImageFormat::Png;
  if (starts_with(bytes, size, "GIF87a", 6) || starts_with(bytes, size, "GIF89a", 6)) return ImageFormat::Gif;
  if (starts_with(bytes, size, "BM", 2)) return ImageFormat::Bmp;
  if (starts_with(bytes, size, "RIFF", 4) && starts_with(bytes, size, "WEBP", 4, 8)) return ImageFormat::Webp;
  if (starts_with(bytes, size, "II*\0", 4) || starts_with(bytes, size, "MM\0*", 4)) return ImageFormat::Tiff;
  return ImageFormat::Unknown;
}

torch::Tensor decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& what) {
  std::unique_ptr<void, TjCloser> handle(tjInitDecompress());
  TIEBREAK_DATA_CHECK(handle != nullptr, what, ": cannot create a JPEG decoder: ", tjGetErrorStr2(nullptr));
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  auto* buf = const_cast<unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  TIEBREAK_DATA_CHECK(
      tjDecompressHeader3(handle.get(), buf, size, &width, &height, &subsamp, &colorspace) == 0, what,
      ": corrupt JPEG (", tjGetErrorStr2(handle.get()), ")");
  TIEBREAK_DATA_CHECK(width > 0 && height > 0, what, ": JPEG has an empty image (", width, "x", height, ")");
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const int channels = cmyk ? 4 : 3;
  auto pixels = torch::empty({height, width, channels}, torch::kByte);
  // Flags 0: the accurate integer IDCT and fancy upsampling, libjpeg's defaults and PIL's.
  const int rc = tjDecompress2(handle.get(), buf, size, pixels.data_ptr<uint8_t>(), width, 0, height,
                               cmyk ? TJPF_CMYK : TJPF_RGB, 0);
  // Warnings (e.g. extraneous bytes, a slightly short file) still give a full image.
  TIEBREAK_DATA_CHECK(rc == 0 || tjGetErrorCode(handle.get()) == TJERR_WARNING, what, ": corrupt JPEG (",
                      tjGetErrorStr2(handle.get()), ")");
  if (!cmyk) return pixels.permute({2, 0, 1}).contiguous();
  // libjpeg hands CMYK/YCCK over as stored; PIL assumes Adobe's inverted CMYK
  // ("CMYK;I") and converts with R = (255 - K') - MULDIV255(C', 255 - K') for
  // C' = 255 - C, K' = 255 - K, i.e. R = K - MULDIV255(255 - C, K).
  auto rgb = torch::empty({3, height, width}, torch::kByte);
  const uint8_t* in = pixels.data_ptr<uint8_t>();
  uint8_t* out = rgb.data_ptr<uint8_t>();
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int64_t i = 0; i < plane; ++i) {
    const int k = in[4 * i + 3];
    for (int c = 0; c < 3; ++c)
      out[c * plane + i] = static_cast<uint8_t>(k - muldiv255(255 - in[4 * i + c], k));
  }
  return rgb;
}

torch::Tensor decode_png(const std::vector<uint8_t>& bytes, const std::string& what) {
  PngSource source{bytes.data(), bytes.size(), 0, {0}};
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_record_error, png_ignore_warning);
  TIEBREAK_DATA_CHECK(png != nullptr, what, ": cannot create a PNG decoder");
  png_infop info = png_create_info_struct(png);
  struct Destroy {
    png_structp* png;
    png_infop* info;
    ~Destroy() { png_destroy_read_struct(png, info, nullptr); }
  } destroy{&png, &info};
  TIEBREAK_DATA_CHECK(info != nullptr, what, ": cannot create a PNG decoder");
  png_set_read_fn(png, &source, png_read_from_memory);

  PngLayout layout;
  TIEBREAK_DATA_CHECK(png_prepare(png, info, &layout), what, ": corrupt PNG (", source.error, ")");
  TIEBREAK_DATA_CHECK(layout.width > 0 && layout.height > 0, what, ": PNG has an empty image");
  std::vector<uint8_t> pixels(layout.row_bytes * layout.height);
  std::vector<png_bytep> rows(layout.height);
  for (png_uint_32 y = 0; y < layout.height; ++y) rows[y] = pixels.data() + y * layout.row_bytes;
  TIEBREAK_DATA_CHECK(png_read_rows(png, info, rows.data()), what, ": corrupt PNG (", source.error, ")");

  const int64_t h = layout.height, w = layout.width, plane = h * w;
  auto rgb = torch::empty({3, h, w}, torch::kByte);
  uint8_t* out = rgb.data_ptr<uint8_t>();
  if (layout.gray16) {
    // PIL opens 16-bit gray as I;16, whose conversion to RGB clips at 255 (it does not scale).
    for (int64_t i = 0; i < plane; ++i) {
      const int v = (pixels[2 * i] << 8) | pixels[2 * i + 1];
      out[i] = out[plane + i] = out[2 * plane + i] = static_cast<uint8_t>(std::min(v, 255));
    }
  } else {
    for (int64_t i = 0; i < plane; ++i)
      for (int c = 0; c < 3; ++c) out[c * plane + i] = pixels[3 * i + c];
  }
  return rgb;
}

torch::Tensor decode_image(const std::vector<uint8_t>& bytes, const std::string& what) {
  const ImageFormat format = sniff_image_format(bytes.data(), bytes.size());
  if (format == ImageFormat::Jpeg) return decode_jpeg(bytes, what);
  if (format == ImageFormat::Png) return decode_png(bytes, what);
  TIEBREAK_DATA_CHECK(!bytes.empty(), what, ": empty file, expected a JPEG or PNG image");
  TIEBREAK_DATA_CHECK(format != ImageFormat::Unknown, what, ": not a JPEG or PNG image (it starts with ",
                      bytes.size() > 1 ? fmt::format("0x{:02x} 0x{:02x}", bytes[0], bytes[1])
                                       : fmt::format("0x{:02x}", bytes[0]),
                      ")");
  throw DataError(
      c10::str(what, ": a ", to_string(format),
               " image; tiebreak decodes JPEG and PNG (convert it, e.g. with PIL, to one of them)"));
}

torch::Tensor read_image(const fs::path& path, ImageFormat* format) {
  std::string text;
  try {
    text = read_text(path);
  } catch (const c10::Error& e) {
    // A dataset's file: the data layer's error type, with read_text's one line.
    throw DataError(e.what_without_backtrace());
  }
  const std::vector<uint8_t> bytes(text.begin(), text.end());
  if (format) *format = sniff_image_format(bytes.data(), bytes.size());
  return decode_image(bytes, path.string());
}

namespace {

/// The `tiebreak::decode_image` operator: the bytes of an image file → uint8 RGB [3, H, W].
torch::Tensor decode_image_op(const torch::Tensor& data) {
  TORCH_CHECK(data.device().is_cpu() && data.scalar_type() == torch::kByte && data.dim() == 1,
              "tiebreak::decode_image: expected the file's bytes as a 1-D uint8 CPU tensor, got ",
              data.toString(), data.sizes());
  const auto contiguous = data.contiguous();
  const auto* p = contiguous.data_ptr<uint8_t>();
  return decode_image(std::vector<uint8_t>(p, p + contiguous.numel()), "<tensor>");
}

}  // namespace
}  // namespace tiebreak::data

// Python: torch.ops.tiebreak.decode_image(torch.frombuffer(open(f, "rb").read(), dtype=torch.uint8)),
// what tiebreak trains on for that file (torchvision.io.decode_image's calling convention).
TORCH_LIBRARY_FRAGMENT(tiebreak, m) {
  m.def("decode_image(Tensor data) -> Tensor");
  m.impl("decode_image", torch::dispatch(c10::DispatchKey::CompositeExplicitAutograd,
                                         TORCH_FN(tiebreak::data::decode_image_op)));
}
