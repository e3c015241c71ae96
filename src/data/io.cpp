#include "tiebreak/data/io.h"

#include "tiebreak/data/error.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>

namespace tiebreak::data {

namespace fs = std::filesystem;

namespace {

constexpr size_t kChunk = 1 << 20;

std::string to_hex(const unsigned char* digest, unsigned int size) {
  static const char* hex = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (unsigned int i = 0; i < size; ++i) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  return out;
}

// An incremental EVP digest (SHA-256 or MD5).
class Digest {
 public:
  explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    TORCH_INTERNAL_ASSERT(ctx_ && EVP_DigestInit_ex(ctx_.get(), md, nullptr) == 1,
                          "EVP_DigestInit_ex failed");
  }
  void update(const void* data, size_t size) {
    TORCH_INTERNAL_ASSERT(EVP_DigestUpdate(ctx_.get(), data, size) == 1, "EVP_DigestUpdate failed");
  }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    TORCH_INTERNAL_ASSERT(EVP_DigestFinal_ex(ctx_.get(), digest.data(), &size) == 1,
                          "EVP_DigestFinal_ex failed");
    return to_hex(digest.data(), size);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// Reads the uncompressed content of `path` (gzip or raw) chunk by chunk through zlib's gz*
// interface, which passes raw files through unchanged.
template <typename Sink>
void stream_uncompressed(const fs::path& path, Sink&& sink) {
  TIEBREAK_DATA_CHECK(fs::is_regular_file(path), path.string(), ": file not found");
  gzFile gz = gzopen(path.c_str(), "rb");
  TIEBREAK_DATA_CHECK(gz != nullptr, path.string(), ": cannot open for reading");
  gzbuffer(gz, 1 << 17);
  std::vector<uint8_t> buffer(kChunk);
  while (true) {
    int got = gzread(gz, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (got < 0) {
      int code = 0;
      std::string message = gzerror(gz, &code);
      gzclose_r(gz);
      TIEBREAK_DATA_CHECK(code != Z_BUF_ERROR, path.string(),
                          ": truncated gzip stream (the file ends before the compressed data)");
      throw DataError(c10::str(path.string(), ": corrupt gzip stream (", message, ")"));
    }
    if (got == 0) break;
    sink(buffer.data(), static_cast<size_t>(got));
  }
  // A gzip stream cut short reads as a clean end of file (or a short read); zlib reports it only
  // through the error state.
  int code = Z_OK;
  std::string message = gzerror(gz, &code);
  int close_code = gzclose_r(gz);
  TIEBREAK_DATA_CHECK(code != Z_BUF_ERROR && close_code != Z_BUF_ERROR, path.string(),
                      ": truncated gzip stream (the file ends before the compressed data)");
  TIEBREAK_DATA_CHECK(code == Z_OK || code == Z_STREAM_END, path.string(), ": corrupt gzip stream (", message,
                      ")");
  TIEBREAK_DATA_CHECK(close_code == Z_OK, path.string(), ": error reading the file (zlib code ", close_code,
                      ")");
}

}  // namespace

bool is_gzip_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

std::vector<uint8_t> read_file_bytes(const fs::path& path) {
  std::vector<uint8_t> bytes;
  if (!is_gzip_file(path) && fs::is_regular_file(path)) bytes.reserve(fs::file_size(path));
  stream_uncompressed(
      path, [&](const uint8_t* data, size_t size) { bytes.insert(bytes.end(), data, data + size); });
  return bytes;
}

std::string sha256_hex(const uint8_t* data, size_t size) {
  Digest digest(EVP_sha256());
  digest.update(data, size);
  return digest.hex();
}

std::string md5_hex(const uint8_t* data, size_t size) {
  Digest digest(EVP_md5());
  digest.update(data, size);
  return digest.hex();
}

FileDigest digest_file(const fs::path& path) {
  FileDigest result;
  result.gzipped = is_gzip_file(path);
  Digest content(EVP_sha256());
  Digest stored_md5(EVP_md5());
  stream_uncompressed(path, [&](const uint8_t* data, size_t size) {
    content.update(data, size);
    if (!result.gzipped) stored_md5.update(data, size);
    result.uncompressed_bytes += static_cast<int64_t>(size);
  });
  result.sha256 = content.hex();
  if (!result.gzipped) {
    result.file_sha256 = result.sha256;
    result.file_md5 = stored_md5.hex();
    return result;
  }
  // The stored bytes of a .gz: its published SHA-256 is of the compressed file.
  Digest stored_sha(EVP_sha256());
  std::ifstream in(path, std::ios::binary);
  TIEBREAK_DATA_CHECK(in, path.string(), ": cannot open for reading");
  std::vector<char> buffer(kChunk);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    auto got = in.gcount();
    if (got <= 0) break;
    stored_sha.update(buffer.data(), static_cast<size_t>(got));
    stored_md5.update(buffer.data(), static_cast<size_t>(got));
  }
  result.file_sha256 = stored_sha.hex();
  result.file_md5 = stored_md5.hex();
  return result;
}

fs::path find_maybe_gz(const fs::path& dir, const std::string& name) {
  fs::path raw = dir / name;
  if (fs::is_regular_file(raw)) return raw;
  fs::path gz = dir / (name + ".gz");
  if (fs::is_regular_file(gz)) return gz;
  return {};
}

std::string uncompressed_name(const fs::path& path) {
  std::string name = path.filename().string();
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) name.resize(name.size() - 3);
  return name;
}

}  // namespace tiebreak::data
