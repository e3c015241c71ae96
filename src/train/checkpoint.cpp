#include "tiebreak/train/checkpoint.h"

#include "tiebreak/train/atomic_file.h"

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/serialize.h>

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

torch::serialize::InputArchive open_archive(const fs::path& path) {
  TORCH_CHECK(fs::exists(path), path.string(), ": checkpoint not found");
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
  write_atomically(path, [&](const fs::path& temporary) { archive.save_to(temporary.string()); });
}

nlohmann::json load_checkpoint(const fs::path& path, const CheckpointParts& parts) {
  TORCH_INTERNAL_ASSERT(parts.model && parts.optimizer);
  auto archive = open_archive(path);
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
  auto archive = open_archive(path);
  return read_meta(archive, path);
}

}  // namespace tiebreak::train
