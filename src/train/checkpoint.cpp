#include "tiebreak/train/checkpoint.h"

#include "tiebreak/core/atomic_file.h"

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/serialize.h>
#include <zip.h>

#include <memory>
#include <mutex>

namespace tiebreak::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "tiebreak-checkpoint-1";

std::vector<at::Generator> generators() {
  std::vector<at::Generator> gens{at::globalContext().defaultGenerator(at::Device(at::kCPU))};
  if (torch::cuda::is_available()) {
    for (size_t i = 0; i < static_cast<size_t>(torch::cuda::device_count()); ++i) {
      gens.push_back(
          at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i))));
    }
  }
  return gens;
}

void write_module(torch::serialize::OutputArchive& archive, const torch::nn::Module& model) {
  for (const auto& p : model.named_parameters(true))
    archive.write("param/" + p.key(), p.value().detach().cpu());
  for (const auto& b : model.named_buffers(true)) archive.write("buffer/" + b.key(), b.value().cpu(), true);
}

/// Reads every parameter and buffer first, checks them all, then copies: a
/// mismatch leaves the model untouched.
void read_module(torch::serialize::InputArchive& archive, torch::nn::Module& model, const fs::path& path) {
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  auto collect = [&](const std::string& key, const at::Tensor& target) {
    at::Tensor stored;
    TORCH_CHECK(archive.try_read(key, stored), path.string(),
                ": incompatible checkpoint: no tensor for model ", key,
                " (was it written for another model?)");
    TORCH_CHECK(stored.sizes() == target.sizes() && stored.scalar_type() == target.scalar_type(),
                path.string(), ": incompatible checkpoint: model ", key, " is ", stored.toString(),
                stored.sizes(), " in the file but ", target.toString(), target.sizes(), " in the model");
    copies.emplace_back(target, stored);
  };
  for (const auto& p : model.named_parameters(true)) collect("param/" + p.key(), p.value());
  for (const auto& b : model.named_buffers(true)) collect("buffer/" + b.key(), b.value());
  torch::NoGradGuard no_grad;
  for (auto& [target, stored] : copies) target.copy_(stored);
}

/// Tensor payloads are the archive's `<name>/data/<key>` records; the rest
/// (data.pkl with the metadata, version, ...) is small.
bool is_tensor_record(const std::string& name) { return name.find("/data/") != std::string::npos; }

/// LibTorch reads its archives without checking the zip format's CRC-32s, so
/// a flipped bit or a few overwritten bytes in a weight would load silently
/// (and NaN bytes would fake a diverged run). libzip re-reads the records and
/// compares each one's CRC-32 with the one written beside it, and checks that
/// the central directory and the local headers agree. `tensors`: also the
/// tensor payloads (everything), not only the small records.
void verify_archive(const fs::path& path, bool tensors) {
  const std::string damaged =
      path.string() +
      ": damaged checkpoint, refusing to use it (restore it from a copy or delete it to start the "
      "run over): ";
  int code = 0;
  std::unique_ptr<zip_t, decltype(&zip_discard)> archive(
      zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code), &zip_discard);
  if (!archive) {
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    const std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    TORCH_CHECK(false, damaged, "not a readable archive (", reason, ")");
  }
  const zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
  TORCH_CHECK(entries > 0, damaged, "the archive holds no records");
  std::vector<char> buffer(1 << 20);
  for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(entries); ++i) {
    const char* raw_name = zip_get_name(archive.get(), i, 0);
    const std::string name = raw_name ? raw_name : "#" + std::to_string(i);
    if (!tensors && is_tensor_record(name)) continue;
    std::unique_ptr<zip_file_t, decltype(&zip_fclose)> file(zip_fopen_index(archive.get(), i, 0),
                                                            &zip_fclose);
    TORCH_CHECK(file != nullptr, damaged, "record ", name, " cannot be read (", zip_strerror(archive.get()),
                ")");
    zip_int64_t n = 0;
    while ((n = zip_fread(file.get(), buffer.data(), buffer.size())) > 0) {
    }
    // libzip checks the CRC-32 when the record's last byte has been read.
    TORCH_CHECK(n == 0, damaged, "record ", name, " fails its check (", zip_file_strerror(file.get()), ")");
  }
}

torch::serialize::InputArchive open_archive(const fs::path& path, bool verify_tensors) {
  TORCH_CHECK(fs::exists(path), path.string(), ": checkpoint not found");
  verify_archive(path, verify_tensors);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, path.string(), ": corrupt or truncated checkpoint (", e.what_without_backtrace(), ")");
  }
  return archive;
}

nlohmann::json read_meta(torch::serialize::InputArchive& archive, const fs::path& path) {
  c10::IValue meta;
  TORCH_CHECK(archive.try_read("meta", meta) && meta.isString(), path.string(),
              ": not a tiebreak checkpoint (no metadata)");
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(meta.toStringRef());
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, path.string(), ": corrupt checkpoint metadata (", e.what(), ")");
  }
  TORCH_CHECK(parsed.value("format", "") == kFormat, path.string(), ": incompatible checkpoint format ",
              parsed.value("format", "<none>"), " (expected ", kFormat, ")");
  return parsed;
}

}  // namespace

void save_checkpoint(const fs::path& path, const CheckpointParts& parts, const nlohmann::json& meta) {
  TORCH_INTERNAL_ASSERT(parts.model && parts.optimizer);
  torch::serialize::OutputArchive archive;
  nlohmann::json full = meta;
  full["format"] = kFormat;
  archive.write("meta", c10::IValue(full.dump()));

  torch::serialize::OutputArchive model_archive;
  write_module(model_archive, *parts.model);
  archive.write("model", model_archive);

  torch::serialize::OutputArchive optimizer_archive;
  parts.optimizer->save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);

  if (parts.scaler) {
    torch::serialize::OutputArchive scaler_archive;
    parts.scaler->save(scaler_archive);
    archive.write("scaler", scaler_archive);
  }

  auto gens = generators();
  archive.write("rng/count", torch::tensor(static_cast<int64_t>(gens.size())));
  for (size_t i = 0; i < gens.size(); ++i) {
    std::lock_guard<std::mutex> lock(gens[i].mutex());
    archive.write("rng/" + std::to_string(i), gens[i].get_state());
  }
  // Streamed through the atomic writer, whose sink never throws: LibTorch's
  // archive writer finalizes in its destructor, and an I/O exception out of it
  // during unwinding would end the process. A failed write is reported after
  // save_to returns, naming `path`, and the temporary is removed.
  write_atomically(path, [&](AtomicFileWriter& out) {
    archive.save_to([&out](const void* data, size_t size) -> size_t {
      out.write(data, size);
      return size;
    });
  });
}

nlohmann::json load_checkpoint(const fs::path& path, const CheckpointParts& parts) {
  TORCH_INTERNAL_ASSERT(parts.model && parts.optimizer);
  auto archive = open_archive(path, /*verify_tensors=*/true);
  nlohmann::json meta = read_meta(archive, path);
  try {
    torch::serialize::InputArchive model_archive;
    TORCH_CHECK(archive.try_read("model", model_archive), path.string(), ": checkpoint has no model");
    read_module(model_archive, *parts.model, path);

    torch::serialize::InputArchive optimizer_archive;
    TORCH_CHECK(archive.try_read("optimizer", optimizer_archive), path.string(),
                ": checkpoint has no optimizer");
    parts.optimizer->load(optimizer_archive);

    if (parts.scaler) {
      torch::serialize::InputArchive scaler_archive;
      TORCH_CHECK(archive.try_read("scaler", scaler_archive), path.string(),
                  ": incompatible checkpoint: no loss-scaler state (written with another precision?)");
      parts.scaler->load(scaler_archive);
    }

    at::Tensor count;
    archive.read("rng/count", count);
    auto gens = generators();
    // A checkpoint written with more CUDA devices than this machine has still
    // restores the CPU stream and the devices that exist.
    const auto stored = static_cast<size_t>(count.item<int64_t>());
    for (size_t i = 0; i < std::min(stored, gens.size()); ++i) {
      at::Tensor state;
      archive.read("rng/" + std::to_string(i), state);
      std::lock_guard<std::mutex> lock(gens[i].mutex());
      gens[i].set_state(state);
    }
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    if (what.rfind(path.string(), 0) == 0) throw;
    TORCH_CHECK(false, path.string(), ": incompatible checkpoint (", what.substr(0, what.find('\n')), ")");
  }
  return meta;
}

nlohmann::json read_checkpoint_meta(const fs::path& path) {
  auto archive = open_archive(path, /*verify_tensors=*/false);
  return read_meta(archive, path);
}

}  // namespace tiebreak::train
