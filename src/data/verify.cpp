#include "tiebreak/data/verify.h"

#include "tiebreak/data/checksums.h"
#include "tiebreak/data/cifar.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/idx.h"
#include "tiebreak/data/image_decode.h"
#include "tiebreak/data/imagenet.h"
#include "tiebreak/data/io.h"
#include "tiebreak/data/registry.h"
#include "tiebreak/data/svhn.h"

#include <c10/util/ParallelGuard.h>

#include <algorithm>
#include <atomic>
#include <iomanip>
#include <set>
#include <sstream>
#include <thread>

namespace tiebreak::data {

namespace fs = std::filesystem;

namespace {

enum class Kind { IdxImages, IdxLabels, Cifar10, Cifar100, SvhnMat };

struct SplitSpec {
  Split split;
  std::vector<std::string> files;  // canonical names
  std::string subset_prefix;       // other files "<prefix>*" count as a subset of this split
  Kind kind;
  int64_t full_count;
};

std::vector<SplitSpec> specs_for(const std::string& name) {
  if (name == "mnist" || name == "fashion-mnist" || name == "kmnist") {
    return {
        {Split::Train, {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"}, "", Kind::IdxImages, 60000},
        {Split::Test, {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}, "", Kind::IdxImages, 10000}};
  }
  if (name == "cifar-10") {
    return {
        {Split::Train,
         {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
         "data_batch_",
         Kind::Cifar10,
         50000},
        {Split::Test, {"test_batch.bin"}, "test_batch", Kind::Cifar10, 10000}};
  }
  if (name == "cifar-100") {
    return {{Split::Train, {"train.bin"}, "", Kind::Cifar100, 50000},
            {Split::Test, {"test.bin"}, "", Kind::Cifar100, 10000}};
  }
  if (name == "svhn") {
    return {{Split::Train, {"train_32x32.mat"}, "", Kind::SvhnMat, 73257},
            {Split::Test, {"test_32x32.mat"}, "", Kind::SvhnMat, 26032}};
  }
  return {};
}

// Files named "<prefix>*.bin[.gz]" other than the canonical ones: known prefixes and other subsets.
std::vector<fs::path> subset_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (prefix.empty() || !fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = uncompressed_name(entry.path());
    if (entry.is_regular_file() && name.rfind(prefix, 0) == 0 && name.size() > 4 &&
        name.compare(name.size() - 4, 4, ".bin") == 0) {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Tally {
  int verified = 0, subset = 0, unknown = 0, mismatch = 0;
  std::string summary() const {
    if (mismatch > 0) return "MISMATCH";
    if (verified + subset + unknown == 0) return "-";
    if (unknown == 0) return subset > 0 ? "verified subset" : "verified";
    if (verified + subset == 0) return "no reference";
    return "partly verified";
  }
};

// Checksum, structure and record count of one file; problems go into the report.
int64_t check_file(const std::string& dataset, const fs::path& path, Kind kind, Tally& tally,
                   DatasetReport& report) {
  try {
    auto digest = digest_file(path);
    auto check = check_known(dataset, path, digest.uncompressed_bytes, digest.sha256, digest.file_sha256,
                             digest.file_md5);
    switch (check.status) {
      case ChecksumCheck::Status::Verified:
        ++tally.verified;
        break;
      case ChecksumCheck::Status::VerifiedSubset:
        ++tally.subset;
        break;
      case ChecksumCheck::Status::Unknown:
        ++tally.unknown;
        break;
      case ChecksumCheck::Status::Mismatch:
        ++tally.mismatch;
        report.problems.push_back(check.detail);
        return -1;
    }
    switch (kind) {
      case Kind::IdxImages:
        return read_idx_images(path).size(0);
      case Kind::IdxLabels:
        return read_idx_labels(path, 10).size(0);
      case Kind::Cifar10:
        return read_cifar_records(dataset, {path}, 1, 10, false).labels.size(0);
      case Kind::Cifar100:
        return read_cifar_records(dataset, {path}, 2, 100, false).labels.size(0);
      case Kind::SvhnMat:
        return read_svhn_mat(path).labels.size(0);
    }
  } catch (const DataError& e) {
    report.problems.push_back(e.what());
  } catch (const c10::Error& e) {
    report.problems.push_back(path.string() + ": " + e.what_without_backtrace());
  }
  return -1;
}

/// Decodes every file of `folders` with `threads` threads: failures become
/// problems (in file order), files whose content is not what their name says
/// become notes.
void decode_all(const std::vector<const ImageFolder*>& folders, int64_t threads, DatasetReport& report) {
  std::vector<const fs::path*> files;
  for (const auto* f : folders)
    for (const auto& p : f->files) files.push_back(&p);
  std::vector<std::string> failure(files.size()), note(files.size());
  std::atomic<size_t> next{0};
  std::atomic<int64_t> decoded{0};
  auto work = [&] {
    // Each worker decodes whole images; ATen's own threads would only oversubscribe.
    c10::ParallelGuard serial(true);
    for (size_t i = next++; i < files.size(); i = next++) {
      const fs::path& path = *files[i];
      try {
        ImageFormat format = ImageFormat::Unknown;
        read_image(path, &format);
        ++decoded;
        std::string ext = path.extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        const bool jpeg_name = ext == ".jpeg" || ext == ".jpg";
        if (jpeg_name != (format == ImageFormat::Jpeg))
          note[i] = path.string() + ": a " + to_string(format) + " image under a " +
                    path.extension().string() + " name (decoded as the " + to_string(format) + " it is)";
      } catch (const std::exception& e) {
        failure[i] = e.what();
      }
    }
  };
  const int64_t n = threads > 0 ? threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < std::min<int64_t>(n, static_cast<int64_t>(files.size())); ++t)
    pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (auto& f : failure)
    if (!f.empty()) report.problems.push_back(std::move(f));
  for (auto& m : note)
    if (!m.empty()) report.notes.push_back(std::move(m));
  report.decoded = decoded;
}

DatasetReport verify_imagenet(const fs::path& dir, const VerifyOptions& options) {
  DatasetReport report;
  report.name = "imagenet";
  report.dir = dir;
  report.checksum = "-";
  const bool has_train = fs::is_directory(dir / "train"), has_val = fs::is_directory(dir / "val");
  if (!has_train && !has_val) return report;
  ImageFolder train, val;
  try {
    if (has_train) {
      train = scan_image_folder(dir / "train");
      report.train = static_cast<int64_t>(train.files.size());
    } else {
      report.problems.push_back((dir / "train").string() + ": folder not found");
    }
    if (has_val) {
      val = scan_image_folder(dir / "val", has_train ? &train.classes : nullptr);
      report.test = static_cast<int64_t>(val.files.size());
    } else {
      report.problems.push_back((dir / "val").string() + ": folder not found");
    }
  } catch (const DataError& e) {
    report.problems.push_back(e.what());
    report.status = DatasetReport::Status::Corrupt;
    return report;
  }
  if (options.decode()) {
    const size_t before = report.problems.size();
    decode_all({&train, &val}, options.threads(), report);
    if (report.problems.size() > before) {
      report.status = DatasetReport::Status::Corrupt;
      return report;
    }
  }
  if (!has_train || !has_val || report.train == 0 || report.test == 0) {
    report.status = DatasetReport::Status::Incomplete;
  } else {
    report.status = report.train == 1281167 && report.test == 50000 ? DatasetReport::Status::Ok
                                                                    : DatasetReport::Status::Subset;
  }
  return report;
}

}  // namespace

const char* to_string(DatasetReport::Status status) {
  switch (status) {
    case DatasetReport::Status::Ok:
      return "ok";
    case DatasetReport::Status::Subset:
      return "subset";
    case DatasetReport::Status::Missing:
      return "missing";
    case DatasetReport::Status::Incomplete:
      return "incomplete";
    case DatasetReport::Status::Corrupt:
      return "corrupt";
  }
  return "?";
}

DatasetReport verify_dataset(const std::string& requested, const fs::path& root,
                             const VerifyOptions& options) {
  const std::string name = canonical_dataset_name(requested);
  const fs::path dir = dataset_dir(name, root);
  if (name == "imagenet") return verify_imagenet(dir, options);
  DatasetReport report;
  report.name = name;
  report.dir = dir;
  const auto specs = specs_for(name);
  TIEBREAK_DATA_CHECK(!specs.empty(), "data verify: no file layout known for dataset \"", name, "\"");
  Tally tally;
  bool any_found = false, any_missing = false, subset = false;
  for (const auto& spec : specs) {
    std::vector<fs::path> found;
    std::vector<std::string> missing;
    for (const auto& file : spec.files) {
      fs::path p = find_maybe_gz(dir, file);
      if (p.empty()) {
        missing.push_back(file);
      } else {
        found.push_back(p);
      }
    }
    if (found.empty()) {
      // No canonical file: a subset (e.g. data_batch_1.first4000.bin.gz) stands in for the split.
      for (const auto& p : subset_files(dir, spec.subset_prefix)) found.push_back(p);
      if (!found.empty()) {
        subset = true;
        missing.clear();
      }
    }
    any_found = any_found || !found.empty();
    for (const auto& m : missing) {
      any_missing = true;
      report.problems.push_back((dir / m).string() + "[.gz]: file not found");
    }
    int64_t count = 0;
    bool counted = !found.empty(), images_seen = false;
    for (const auto& p : found) {
      Kind kind = spec.kind;
      if (kind == Kind::IdxImages && uncompressed_name(p).find("labels") != std::string::npos) {
        kind = Kind::IdxLabels;
      }
      const int64_t n = check_file(name, p, kind, tally, report);
      if (n < 0) {
        counted = false;
        continue;
      }
      if (kind == Kind::IdxLabels) {
        if (!images_seen) {
          counted = false;  // the image file is missing or unreadable: nothing to compare with
        } else if (count != n) {
          report.problems.push_back(c10::str(p.string(), ": ", n, " labels, expected ", count,
                                             " (one per image in the image file)"));
          counted = false;
        }
        continue;
      }
      images_seen = true;
      count += n;
    }
    if (counted) {
      (spec.split == Split::Train ? report.train : report.test) = count;
      if (count < spec.full_count) subset = true;
    }
  }
  report.checksum = tally.summary();
  const bool corrupt = tally.mismatch > 0 ||
                       std::any_of(report.problems.begin(), report.problems.end(), [](const std::string& p) {
                         return p.find("file not found") == std::string::npos;
                       });
  if (corrupt) {
    report.status = DatasetReport::Status::Corrupt;
  } else if (!any_found) {
    report.status = DatasetReport::Status::Missing;
    report.problems.clear();
  } else if (any_missing) {
    report.status = DatasetReport::Status::Incomplete;
  } else {
    report.status = subset ? DatasetReport::Status::Subset : DatasetReport::Status::Ok;
  }
  return report;
}

std::string format_verify_table(const std::vector<DatasetReport>& reports) {
  std::ostringstream out;
  auto count = [](int64_t n) { return n < 0 ? std::string("-") : std::to_string(n); };
  out << std::left << std::setw(15) << "dataset" << std::setw(12) << "status" << std::right << std::setw(9)
      << "train" << std::setw(9) << "test"
      << "  " << std::left << std::setw(17) << "checksum"
      << "folder\n";
  for (const auto& r : reports) {
    out << std::left << std::setw(15) << r.name << std::setw(12) << to_string(r.status) << std::right
        << std::setw(9) << count(r.train) << std::setw(9) << count(r.test) << "  " << std::left
        << std::setw(17) << r.checksum << r.dir.string() << "\n";
  }
  for (const auto& r : reports) {
    if (r.decoded >= 0)
      out << "\n"
          << r.name << ": " << r.decoded << " of "
          << std::max<int64_t>(r.train, 0) + std::max<int64_t>(r.test, 0) << " images decoded\n";
  }
  using Lines = std::vector<std::string> DatasetReport::*;
  const std::pair<const char*, Lines> sections[] = {{"notes", &DatasetReport::notes},
                                                    {"problems", &DatasetReport::problems}};
  for (const auto& [title, member] : sections) {
    bool header = false;
    for (const auto& r : reports) {
      for (const auto& line : r.*member) {
        if (!header) out << "\n" << title << ":\n";
        header = true;
        out << "  " << r.name << ": " << line << "\n";
      }
    }
  }
  return out.str();
}

}  // namespace tiebreak::data
