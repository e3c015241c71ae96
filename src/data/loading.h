#pragma once

// Helpers shared by the loaders (private to src/data).

#include "tiebreak/data/checksums.h"
#include "tiebreak/data/options.h"

#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::data::detail {

/// With `verify`, compares the uncompressed content of a loaded file with the known-file table:
/// a mismatch with a known original is a DataError; a match is logged.
void check_content(const std::string& dataset, const std::filesystem::path& path,
                   const std::vector<uint8_t>& bytes, bool verify);

/// What a checksum mismatch error suggests (after "; "): only what a user can
/// do from a config or the shell. A copy under another file name has no
/// reference checksum, so a deliberately changed file loads when renamed.
std::string checksum_mismatch_advice(const std::string& dataset);

/// The files of one split: the override list (relative to `dir` unless absolute) when not empty,
/// else `defaults` located as name or name.gz. A missing file is a DataError naming it.
std::vector<std::filesystem::path> split_files(const std::string& dataset, const std::filesystem::path& dir,
                                               Split split, const std::vector<std::string>& overrides,
                                               const std::vector<std::string>& defaults);

/// The dataset's folder for `options` (root resolution and the fashion-mnist fallback).
std::filesystem::path dataset_folder(const DataOptions& options);

/// Reads a 32-bit big-endian integer.
inline uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace tiebreak::data::detail
