#include "tiebreak/data/svhn.h"

#include "loading.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/io.h"
#include "tiebreak/data/transforms.h"

#include <matio.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

namespace tiebreak::data {

namespace fs = std::filesystem;

namespace {

// libmatio reports problems through a global log function (stderr by default): route them
// to spdlog and keep the last one for the error message.
thread_local std::string last_matio_message;

void matio_log(int level, char* message) {
  last_matio_message = message != nullptr ? message : "";
  spdlog::debug("matio: {}", last_matio_message);
}

void install_matio_log() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("tiebreak", matio_log); });
}

struct MatCloser {
  void operator()(mat_t* m) const { Mat_Close(m); }
};
struct VarFreer {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};

torch::ScalarType torch_type(matio_classes c) {
  switch (c) {
    case MAT_C_DOUBLE:
      return torch::kFloat64;
    case MAT_C_SINGLE:
      return torch::kFloat32;
    case MAT_C_UINT8:
      return torch::kByte;
    case MAT_C_INT8:
      return torch::kChar;
    case MAT_C_INT16:
      return torch::kShort;
    case MAT_C_INT32:
      return torch::kInt;
    case MAT_C_INT64:
      return torch::kLong;
    default:
      return torch::kBool;  // not numeric in a way we read
  }
}

std::unique_ptr<matvar_t, VarFreer> read_var(mat_t* mat, const fs::path& path, const char* name) {
  last_matio_message.clear();
  std::unique_ptr<matvar_t, VarFreer> var(Mat_VarRead(mat, name));
  TIEBREAK_DATA_CHECK(var != nullptr, path.string(), ": cannot read variable '", name,
                      "' (missing, or the file is truncated/corrupt",
                      last_matio_message.empty() ? "" : ": " + last_matio_message, ")");
  TIEBREAK_DATA_CHECK(var->data != nullptr && !var->isComplex && var->class_type != MAT_C_SPARSE,
                      path.string(), ": variable '", name, "' is not a real numeric array");
  return var;
}

}  // namespace

ImageTensors read_svhn_mat(const fs::path& path) {
  install_matio_log();
  TIEBREAK_DATA_CHECK(fs::is_regular_file(path), path.string(), ": file not found");
  last_matio_message.clear();
  std::unique_ptr<mat_t, MatCloser> mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  TIEBREAK_DATA_CHECK(mat != nullptr, path.string(),
                      ": not a MATLAB .mat file (expected SVHN format 2, e.g. ", "train_32x32.mat",
                      last_matio_message.empty() ? "" : "; " + last_matio_message, ")");
  auto x = read_var(mat.get(), path, "X");
  TIEBREAK_DATA_CHECK(
      x->class_type == MAT_C_UINT8 && x->rank == 4 && x->dims[0] == 32 && x->dims[1] == 32 && x->dims[2] == 3,
      path.string(), ": expected X to be uint8 32x32x3xN, got class ", int(x->class_type), " rank ", x->rank,
      x->rank >= 3 ? c10::str(" dims ", x->dims[0], "x", x->dims[1], "x", x->dims[2]) : "");
  const int64_t n = static_cast<int64_t>(x->dims[3]);
  TIEBREAK_DATA_CHECK(n > 0 && x->nbytes == static_cast<size_t>(n) * 3 * 32 * 32, path.string(), ": X holds ",
                      x->nbytes, " bytes, expected ", n * 3 * 32 * 32, " for ", n, " images");
  auto y = read_var(mat.get(), path, "y");
  const auto ytype = torch_type(y->class_type);
  TIEBREAK_DATA_CHECK(ytype != torch::kBool, path.string(), ": expected y to be numeric, got class ",
                      int(y->class_type));
  size_t y_count = 1;
  for (int i = 0; i < y->rank; ++i) y_count *= y->dims[i];
  TIEBREAK_DATA_CHECK(static_cast<int64_t>(y_count) == n, path.string(), ": X holds ", n,
                      " images but y holds ", y_count, " labels");

  // MATLAB is column-major: X(h, w, c, n) sits at h + 32(w + 32(c + 3n)), i.e. C order [n][c][w][h].
  auto images = torch::from_blob(x->data, {n, 3, 32, 32}, torch::kByte).transpose(2, 3).contiguous();
  auto raw = torch::from_blob(y->data, {n}, ytype).to(torch::kFloat64);
  auto valid = raw.ge(0) & raw.le(10) & raw.eq(raw.round());
  if (!valid.all().item<bool>()) {
    const int64_t at = valid.logical_not().nonzero()[0][0].item<int64_t>();
    throw DataError(c10::str(path.string(), ": y[", at, "] = ", raw[at].item<double>(),
                             ", expected a digit label 1..10 (10 means 0)"));
  }
  auto labels = raw.to(torch::kLong).remainder(10);
  return {images, labels};
}

std::shared_ptr<TensorDataset> make_svhn_dataset(const DataOptions& options) {
  const fs::path dir = detail::dataset_folder(options);
  std::vector<std::string> train_defaults = {"train_32x32.mat"};
  if (options.svhn_extra()) train_defaults.push_back("extra_32x32.mat");
  auto load = [&](Split split, const std::vector<std::string>& overrides,
                  const std::vector<std::string>& defaults) {
    std::vector<torch::Tensor> images, labels;
    for (const auto& file : detail::split_files("svhn", dir, split, overrides, defaults)) {
      TIEBREAK_DATA_CHECK(!is_gzip_file(file), "svhn: ", file.string(),
                          ": gzipped .mat files are not supported, gunzip it first");
      if (options.verify_checksums()) {
        // The published MD5 is of the .mat as distributed; compare only files of the original size.
        for (const auto& known : known_files()) {
          if (known.dataset != "svhn" || known.name != file.filename().string()) continue;
          if (known.bytes != static_cast<int64_t>(fs::file_size(file))) continue;
          auto digest = digest_file(file);
          auto check = check_known("svhn", file, digest.uncompressed_bytes, digest.sha256, digest.file_sha256,
                                   digest.file_md5);
          TIEBREAK_DATA_CHECK(check.status != ChecksumCheck::Status::Mismatch, "svhn: ", check.detail, "; ",
                              detail::checksum_mismatch_advice("svhn"));
        }
      }
      auto t = read_svhn_mat(file);
      images.push_back(t.images);
      labels.push_back(t.labels);
    }
    return ImageTensors{torch::cat(images), torch::cat(labels)};
  };
  auto train = load(Split::Train, options.train_files(), train_defaults);
  auto test = load(Split::Test, options.test_files(), {"test_32x32.mat"});
  spdlog::info("svhn: {} training and {} test images from {}", train.images.size(0), test.images.size(0),
               dir.string());
  return std::make_shared<TensorDataset>(options, "svhn", std::move(train), std::move(test), 10,
                                         half_normalization(3), Augmentation{});
}

}  // namespace tiebreak::data
