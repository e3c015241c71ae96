// Checkpoints under faults: a bit flipped or bytes overwritten anywhere in the
// file (weights, optimizer state, metadata) and a write that fails half-way.
#include "tiebreak/train/checkpoint.h"

#include "support/test_support.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/train/trainer.h"
#include "train/synthetic_task.h"

#include <caffe2/serialize/inline_container.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <map>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::synthetic_components;
using testing::synthetic_config;
using tiebreak::testing::error_message;
using tiebreak::testing::FileSizeLimit;
using tiebreak::testing::TempDir;

RunOutcome run(const config::LoadedConfig& c, const fs::path& dir, bool resume = false) {
  RunOptions o;
  o.run_dir = dir;
  o.resume = resume;
  o.progress = false;
  return train_run(c, o, synthetic_components());
}

/// Where each record's bytes lie in the archive: name (without the archive's
/// folder, e.g. "data/3" for a tensor) → (offset, size).
std::map<std::string, std::pair<size_t, size_t>> record_spans(const fs::path& path) {
  caffe2::serialize::PyTorchStreamReader reader(path.string());
  std::map<std::string, std::pair<size_t, size_t>> spans;
  for (const auto& name : reader.getAllRecords())
    spans[name] = {reader.getRecordOffset(name), reader.getRecordSize(name)};
  return spans;
}

void overwrite(const fs::path& path, size_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void flip_bit(const fs::path& path, size_t offset, int bit) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

struct Parts {
  Model model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  CheckpointParts parts() { return {model.module.get(), optimizer.get(), nullptr}; }
};

Parts make_parts() {
  auto cfg = synthetic_config();
  auto data = testing::synthetic_data();
  Parts p;
  p.model = testing::synthetic_model(cfg.config, *data, 0);
  p.optimizer = std::make_unique<torch::optim::SGD>(p.model.module->parameters(),
                                                    torch::optim::SGDOptions(0.1).momentum(0.9));
  // One step, so that the momentum buffers exist and are saved too.
  auto x = torch::randn({4, 1, 8, 8});
  p.model.forward(x).sum().backward();
  p.optimizer->step();
  return p;
}

class CheckpointDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = make_parts();
    save_checkpoint(path(), source_.parts(), {{"epoch", 1}});
    spans_ = record_spans(path());
    for (const auto& [name, span] : spans_)
      if (name.rfind("data/", 0) == 0 && span.second >= 4) tensors_.push_back(name);
    ASSERT_GE(tensors_.size(), 6u) << "expected weights, biases and momentum buffers";
  }
  fs::path path() const { return dir_ / "checkpoint.pt"; }

  /// Loading fails with the one-line damaged-checkpoint error and the model is left as it was.
  void expect_refused(const std::string& context) {
    auto target = make_parts();
    const auto before = target.model.module->parameters()[0].clone();
    const auto message = error_message([&] { load_checkpoint(path(), target.parts()); });
    EXPECT_THAT(message, HasSubstr(path().string() + ": damaged checkpoint, refusing to use it")) << context;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_TRUE(torch::equal(target.model.module->parameters()[0], before)) << context;
  }

  TempDir dir_;
  Parts source_;
  std::map<std::string, std::pair<size_t, size_t>> spans_;
  std::vector<std::string> tensors_;
};

TEST_F(CheckpointDamage, AnIntactCheckpointLoadsExactly) {
  auto target = make_parts();
  EXPECT_EQ(load_checkpoint(path(), target.parts())["epoch"], 1);
  const auto a = source_.model.module->parameters(), b = target.model.module->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
}

// LibTorch itself loads all of these silently (it does not check the zip CRCs).
TEST_F(CheckpointDamage, OneFlippedBitInAnyTensorIsRefused) {
  const auto pristine = read_text(path());
  for (const auto& name : tensors_) {
    const auto [offset, size] = spans_.at(name);
    for (int bit : {0, 7}) {
      flip_bit(path(), offset + size / 2, bit);
      expect_refused(name + " bit " + std::to_string(bit));
      write_text_atomically(path(), pristine);
    }
  }
}

TEST_F(CheckpointDamage, FourNanBytesInAWeightAreRefused) {
  const auto [offset, size] = spans_.at(tensors_.front());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::string bytes(sizeof nan, '\0');
  std::memcpy(bytes.data(), &nan, sizeof nan);
  overwrite(path(), offset, bytes);
  expect_refused("NaN bytes in " + tensors_.front());
}

TEST_F(CheckpointDamage, DamagedMetadataIsRefusedEvenWhenOnlyTheMetadataIsRead) {
  std::string pickle;
  for (const auto& [name, span] : spans_)
    if (name.size() >= 8 && name.compare(name.size() - 8, 8, "data.pkl") == 0) pickle = name;
  ASSERT_FALSE(pickle.empty());
  const auto [offset, size] = spans_.at(pickle);
  flip_bit(path(), offset + size / 2, 3);
  EXPECT_THAT(error_message([&] { read_checkpoint_meta(path()); }),
              HasSubstr(path().string() + ": damaged checkpoint"));
  expect_refused("metadata");
}

TEST_F(CheckpointDamage, ATruncatedFileIsRefused) {
  const auto bytes = read_text(path());
  write_text_atomically(path(), bytes.substr(0, bytes.size() - 100));
  expect_refused("truncated");
}

TEST(CheckpointWrite, AFailedWriteIsOneLineNamingTheFileAndKeepsThePreviousCheckpoint) {
  TempDir dir;
  auto first = make_parts();
  save_checkpoint(dir / "checkpoint.pt", first.parts(), {{"epoch", 1}});
  const auto previous = read_text(dir / "checkpoint.pt");
  auto second = make_parts();
  std::string message;
  {
    // Smaller than the checkpoint: the archive writer runs into the limit mid-way.
    FileSizeLimit limit(previous.size() / 2);
    message = error_message([&] { save_checkpoint(dir / "checkpoint.pt", second.parts(), {{"epoch", 2}}); });
  }
  EXPECT_THAT(message, HasSubstr((dir / "checkpoint.pt").string() + ": cannot write: File too large"));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(read_text(dir / "checkpoint.pt"), previous);
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "checkpoint.pt") << "left behind: " << e.path();
  auto target = make_parts();
  EXPECT_EQ(load_checkpoint(dir / "checkpoint.pt", target.parts())["epoch"], 1);
}

// The study's result is which runs diverge: a damaged checkpoint must not
// continue (into a false "diverged", or silently different metrics).
TEST(CheckpointResume, ADamagedCheckpointStopsTheResumeAndStaysRefused) {
  TempDir dir;
  run(synthetic_config({"train.stop_after_epoch=1"}), dir.path());
  const auto ckpt = dir / "checkpoint.pt";
  std::string largest;
  size_t largest_size = 0;
  for (const auto& [name, span] : record_spans(ckpt)) {
    if (name.rfind("data/", 0) == 0 && span.second > largest_size) {
      largest = name;
      largest_size = span.second;
    }
  }
  flip_bit(ckpt, record_spans(ckpt).at(largest).first + largest_size / 3, 5);
  const auto damaged = read_text(ckpt);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto message = error_message([&] { run(synthetic_config(), dir.path(), /*resume=*/true); });
    EXPECT_THAT(message, HasSubstr(ckpt.string() + ": damaged checkpoint, refusing to use it"));
    EXPECT_EQ(read_run_status(dir.path()), RunStatus::Failed);
    auto info = nlohmann::json::parse(read_text(dir / "run.json"));
    EXPECT_THAT(info["error"].get<std::string>(), HasSubstr("damaged checkpoint"));
    EXPECT_EQ(read_text(ckpt), damaged);
    EXPECT_EQ(read_csv(dir / "metrics.csv").rows.size(), 1u);
  }
}

TEST(RunDirectory, AnUnreadableRunJsonStillProtectsTheRun) {
  TempDir dir;
  run(synthetic_config({"train.epochs=1"}), dir.path());
  const auto metrics = read_text(dir / "metrics.csv");
  write_text_atomically(dir / "run.json", "{\"status\": \"finis");
  const auto message = error_message([&] { run(synthetic_config({"train.epochs=1"}), dir.path()); });
  EXPECT_THAT(message,
              HasSubstr(dir.path().string() + ": already holds a run (" + (dir / "run.json").string() +
                        " is unreadable); resume it or choose another run directory"));
  EXPECT_EQ(read_text(dir / "metrics.csv"), metrics);
}

}  // namespace
}  // namespace tiebreak::train
