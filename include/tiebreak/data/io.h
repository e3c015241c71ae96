#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::data {

/// True when the file starts with the gzip magic bytes 1f 8b (the extension is not trusted).
bool is_gzip_file(const std::filesystem::path& path);

/// The whole uncompressed content of a file, gzipped (any number of members)
/// or raw. A missing file, a truncated gzip stream or a CRC error is a
/// DataError naming the file.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);

/// Lower-case hex SHA-256 / MD5 of a byte range (OpenSSL libcrypto).
std::string sha256_hex(const uint8_t* data, size_t size);
std::string md5_hex(const uint8_t* data, size_t size);
inline std::string sha256_hex(const std::vector<uint8_t>& bytes) {
  return sha256_hex(bytes.data(), bytes.size());
}

/// Digests of one file computed while streaming through it: SHA-256 and size
/// of the uncompressed content, and SHA-256 / MD5 of the bytes on disk.
struct FileDigest {
  int64_t uncompressed_bytes = 0;
  std::string sha256;  ///< of the uncompressed content
  bool gzipped = false;
  std::string file_sha256;  ///< of the file as stored
  std::string file_md5;     ///< of the file as stored
};
/// Streams `path` once (twice when gzipped); a truncated or corrupt gzip stream is a DataError.
FileDigest digest_file(const std::filesystem::path& path);

/// `dir/name` if it exists, else `dir/name.gz`, else an empty path.
std::filesystem::path find_maybe_gz(const std::filesystem::path& dir, const std::string& name);

/// The file name with a trailing ".gz" removed ("train-images-idx3-ubyte.gz" → "train-images-idx3-ubyte").
std::string uncompressed_name(const std::filesystem::path& path);

}  // namespace tiebreak::data
