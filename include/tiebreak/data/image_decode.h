#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::data {

/// An image file's format, told by its first bytes (its signature), never by its name:
/// the ILSVRC-2012 training set holds a PNG named `n02105855_2933.JPEG`.
enum class ImageFormat { Jpeg, Png, Gif, Bmp, Webp, Tiff, Unknown };

/// "JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF" or "unknown".
const char* to_string(ImageFormat format);

/// The format whose signature `bytes` start with.
ImageFormat sniff_image_format(const uint8_t* bytes, size_t size);

/// Decodes a JPEG or PNG, told apart by content, into uint8 RGB [3, H, W],
/// converted as PIL's `Image.open(f).convert("RGB")` does (torchvision's
/// ImageFolder loader, behind the study's ImageNet numbers), bit for bit:
///  - JPEG (libturbojpeg, accurate integer IDCT, fancy upsampling; baseline,
///    progressive, arithmetic-coded): YCbCr/RGB as decoded, grayscale replicated
///    to three channels, CMYK and YCCK read as Adobe's inverted CMYK and
///    converted with PIL's integer formula R = K - round((255 - C)·K / 255) …;
///  - PNG (libpng; every bit depth, palette, interlacing): 1/2/4-bit gray
///    scaled to 0..255, palette looked up, 16-bit samples cut to their high
///    byte (16-bit gray is clipped to 255, as PIL's I;16 → RGB conversion does),
///    alpha dropped without compositing, gAMA/sRGB chunks ignored.
/// EXIF orientation is not applied (PIL's convert does not either).
///
/// Errors: a DataError naming `what` (the file) and what it is: "…: a GIF
/// image, not a JPEG or PNG", "…: corrupt JPEG (…)", "…: corrupt PNG (…)". A
/// JPEG with only recoverable problems (extraneous bytes, a short scan that
/// libjpeg pads) decodes, as it does in PIL.
torch::Tensor decode_image(const std::vector<uint8_t>& bytes, const std::string& what);

/// decode_image for a JPEG (same conversions and errors).
torch::Tensor decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& what);

/// decode_image for a PNG (same conversions and errors).
torch::Tensor decode_png(const std::vector<uint8_t>& bytes, const std::string& what);

/// The bytes of `path` decoded with decode_image; an unreadable file is a DataError naming it.
/// `format`, when given, receives the format the content turned out to be.
torch::Tensor read_image(const std::filesystem::path& path, ImageFormat* format = nullptr);

}  // namespace tiebreak::data
