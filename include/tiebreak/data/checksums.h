#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::data {

/// A file of an original dataset distribution (or a known prefix of one)
/// with its reference size and digests; empty strings where no published
/// value exists.
struct KnownFile {
  std::string dataset;    ///< registry name
  std::string name;       ///< uncompressed file name
  int64_t bytes = 0;      ///< uncompressed size
  int64_t records = 0;    ///< images (or labels) it holds
  std::string sha256;     ///< of the uncompressed content
  std::string gz_sha256;  ///< of the original .gz download
  std::string md5;        ///< of the file as distributed (SVHN .mat)
  std::string subset_of;  ///< for a prefix: the full file it is cut from
};

/// Every known file; the table is documented in docs/data.md with its sources.
const std::vector<KnownFile>& known_files();

/// The outcome of comparing a file's content with the table.
struct ChecksumCheck {
  enum class Status {
    Verified,        ///< the content is a known original file
    VerifiedSubset,  ///< the content is a known prefix of an original file
    Mismatch,        ///< same name and size as a known original, different content
    Unknown,         ///< no reference digest for this content
  };
  Status status = Status::Unknown;
  const KnownFile* match = nullptr;  ///< the entry matched (or contradicted)
  std::string detail;                ///< one line for logs and `data verify`
};

/// Checks uncompressed content (size + SHA-256) and, when given, the digests of
/// the stored file (gz SHA-256, MD5) against the entries of `dataset`.
ChecksumCheck check_known(const std::string& dataset, const std::filesystem::path& path,
                          int64_t uncompressed_bytes, const std::string& sha256,
                          const std::string& file_sha256 = "", const std::string& file_md5 = "");

/// "verified", "verified subset", "MISMATCH" or "no reference".
const char* to_string(ChecksumCheck::Status status);

}  // namespace tiebreak::data
