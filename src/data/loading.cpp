#include "loading.h"

#include "tiebreak/data/error.h"
#include "tiebreak/data/io.h"
#include "tiebreak/data/registry.h"

#include <spdlog/spdlog.h>

namespace tiebreak::data::detail {

namespace fs = std::filesystem;

std::string checksum_mismatch_advice(const std::string& dataset) {
  return "fetch it again (scripts/fetch_data.sh " + dataset +
         "), or, to train on a deliberately changed copy, save it under another file name and list it in the "
         "config's data.files.train or data.files.test";
}

void check_content(const std::string& dataset, const fs::path& path, const std::vector<uint8_t>& bytes,
                   bool verify) {
  if (!verify) return;
  auto check = check_known(dataset, path, static_cast<int64_t>(bytes.size()), sha256_hex(bytes));
  switch (check.status) {
    case ChecksumCheck::Status::Mismatch:
      throw DataError(dataset + ": " + check.detail + "; " + checksum_mismatch_advice(dataset));
    case ChecksumCheck::Status::Verified:
    case ChecksumCheck::Status::VerifiedSubset:
      spdlog::debug("{}: {}", dataset, check.detail);
      break;
    case ChecksumCheck::Status::Unknown:
      spdlog::debug("{}: {}", dataset, check.detail);
      break;
  }
}

std::vector<fs::path> split_files(const std::string& dataset, const fs::path& dir, Split split,
                                  const std::vector<std::string>& overrides,
                                  const std::vector<std::string>& defaults) {
  std::vector<fs::path> files;
  if (!overrides.empty()) {
    for (const auto& name : overrides) {
      fs::path p = fs::path(name).is_absolute() ? fs::path(name) : dir / name;
      TIEBREAK_DATA_CHECK(fs::is_regular_file(p), dataset, ": ", p.string(), ": file not found (files.",
                          to_string(split), ")");
      files.push_back(p);
    }
    return files;
  }
  for (const auto& name : defaults) {
    fs::path p = find_maybe_gz(dir, name);
    if (p.empty()) {
      throw DataError(
          c10::str(dataset, ": ", (dir / name).string(),
                   "[.gz]: file not found (fetch it with scripts/fetch_data.sh ", dataset,
                   ", point data.root (or TIEBREAK_DATA) at its parent folder, or list the files in "
                   "files.",
                   to_string(split), ")"),
          {core::Setting::DataRoot});
    }
    files.push_back(p);
  }
  return files;
}

fs::path dataset_folder(const DataOptions& options) {
  return dataset_dir(options.name(), resolve_data_root(options.root()));
}

}  // namespace tiebreak::data::detail
