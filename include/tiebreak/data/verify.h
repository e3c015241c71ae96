#pragma once

#include <torch/arg.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::data {

/// What `tiebreak data verify` found for one dataset.
struct DatasetReport {
  enum class Status {
    Ok,          ///< every file of both splits present and well-formed
    Subset,      ///< only known prefixes (or fewer records than the original) present, well-formed
    Missing,     ///< no file of the dataset found
    Incomplete,  ///< some files found, others missing
    Corrupt,     ///< a file is malformed, truncated or fails its checksum
  };
  std::string name;
  Status status = Status::Missing;
  std::filesystem::path dir;
  int64_t train = -1;  ///< examples found (-1: not counted)
  int64_t test = -1;
  std::string checksum;               ///< "verified", "verified subset", "no reference", "MISMATCH", "-"
  std::vector<std::string> problems;  ///< one line each: the file and what was expected
  int64_t decoded = -1;               ///< image files decoded (VerifyOptions::decode), -1: not decoded
  std::vector<std::string> notes;     ///< one line each: worth knowing, not a problem (a PNG named .JPEG)
};

/// What `verify_dataset` does beyond structure and checksums.
struct VerifyOptions {
  /// Image-folder datasets (ImageNet): decode every image, as training would,
  /// and list each one that fails. The other datasets are always read whole.
  TORCH_ARG(bool, decode) = false;
  /// Threads decoding at once (0: one per hardware thread).
  TORCH_ARG(int64_t, threads) = 0;
};

/// "ok", "subset", "missing", "incomplete" or "corrupt".
const char* to_string(DatasetReport::Status status);

/// Checks dataset `name` under `root` (see dataset_dir): files present, headers, record sizes,
/// counts, labels and checksums.
DatasetReport verify_dataset(const std::string& name, const std::filesystem::path& root,
                             const VerifyOptions& options = {});

/// A fixed-width table, one row per report, problems listed under it.
std::string format_verify_table(const std::vector<DatasetReport>& reports);

}  // namespace tiebreak::data
