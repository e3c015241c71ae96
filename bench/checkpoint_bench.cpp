// What a checkpoint costs per epoch and per resume, with SGD momentum state:
//   checkpoint/<model>/save       save_checkpoint: the archive streamed through
//                                 the atomic writer (write, fsync, rename, fsync of the folder)
//   checkpoint/<model>/load       load_checkpoint: every record's CRC-32 verified (libzip), then
//                                 every tensor checked and restored
//   checkpoint/<model>/verify_meta read_checkpoint_meta: the small records verified, metadata read
// model: lenet5 (1x28x28, 10 classes), resnet50 (3x224x224, 1000 classes; skipped by --tiebreak_smoke).
// Items are bytes of checkpoint file (bytes_per_second is the throughput). The file goes to
// $TMPDIR (default /tmp); the load numbers are from the page cache, not the disk.

#include "support/bench_support.h"

#include "tiebreak/models/registry.h"
#include "tiebreak/train/checkpoint.h"

#include <benchmark/benchmark.h>
#include <torch/optim/sgd.h>

#include <unistd.h>
#include <filesystem>
#include <memory>
#include <string>

namespace tiebreak::bench {
namespace {

namespace fs = std::filesystem;

/// A model with one SGD momentum step taken, so the optimizer state is as large as in training.
struct Trained {
  torch::nn::AnyModule model;
  std::unique_ptr<torch::optim::SGD> optimizer;
  train::CheckpointParts parts() { return {model.ptr().get(), optimizer.get(), nullptr}; }
};

Trained make_trained(const std::string& name, int64_t channels, int64_t size, int64_t classes) {
  Trained t;
  t.model = models::make_model(
      models::ModelOptions(name).in_channels(channels).image_size(size).num_classes(classes).stem(
          size >= 224 ? models::Stem::ImageNet : models::Stem::Cifar));
  t.optimizer = std::make_unique<torch::optim::SGD>(t.model.ptr()->parameters(),
                                                    torch::optim::SGDOptions(0.01).momentum(0.9));
  for (auto& p : t.model.ptr()->parameters()) p.mutable_grad() = torch::ones_like(p);
  t.optimizer->step();
  return t;
}

fs::path checkpoint_path(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  return fs::path(tmp && *tmp ? tmp : "/tmp") /
         ("tiebreak-bench-" + std::to_string(::getpid()) + "-" + name + ".pt");
}

enum class Op { Save, Load, VerifyMeta };

void checkpoint_op(benchmark::State& state, std::string name, int64_t channels, int64_t size, int64_t classes,
                   Op op) {
  auto trained = make_trained(name, channels, size, classes);
  const auto path = checkpoint_path(name);
  const nlohmann::json meta = {{"epoch", 1}, {"rows", nlohmann::json::array()}};
  train::save_checkpoint(path, trained.parts(), meta);
  const auto bytes = static_cast<int64_t>(fs::file_size(path));
  for (auto _ : state) {
    switch (op) {
      case Op::Save:
        train::save_checkpoint(path, trained.parts(), meta);
        break;
      case Op::Load:
        benchmark::DoNotOptimize(train::load_checkpoint(path, trained.parts()));
        break;
      case Op::VerifyMeta:
        benchmark::DoNotOptimize(train::read_checkpoint_meta(path));
        break;
    }
  }
  std::error_code ignored;
  fs::remove(path, ignored);
  state.SetBytesProcessed(bytes * static_cast<int64_t>(state.iterations()));
  state.counters["file_mib"] = static_cast<double>(bytes) / (1 << 20);
}

void register_all(const RunOptions& options) {
  struct Case {
    std::string name;
    int64_t channels, size, classes;
  };
  std::vector<Case> cases{{"lenet5", 1, 28, 10}};
  if (!options.smoke) cases.push_back({"resnet50", 3, 224, 1000});
  for (const auto& c : cases) {
    const std::pair<Op, const char*> ops[] = {
        {Op::Save, "save"}, {Op::Load, "load"}, {Op::VerifyMeta, "verify_meta"}};
    for (const auto& [op, label] : ops) {
      benchmark::RegisterBenchmark(("checkpoint/" + c.name + "/" + label).c_str(), checkpoint_op, c.name,
                                   c.channels, c.size, c.classes, op)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(options.smoke ? 1 : 5);
    }
  }
}

}  // namespace
}  // namespace tiebreak::bench

int main(int argc, char** argv) {
  return tiebreak::bench::run_benchmark_program(argc, argv, tiebreak::bench::register_all);
}
