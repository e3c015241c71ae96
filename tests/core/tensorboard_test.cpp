// TensorBoardExport: runs the exporter in the background, coalesces updates, and never fails a run.
#include "tiebreak/core/tensorboard.h"

#include "support/test_support.h"
#include "tiebreak/core/text_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace tiebreak {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tiebreak::testing::TempDir;

/// A stand-in for tensorboard_export.py run by /bin/sh: it records each call's arguments in DIR/calls, then
/// runs `body`.
fs::path fake_exporter(const TempDir& dir, const std::string& body) {
  const auto script = dir / "exporter.sh";
  std::ofstream(script) << "echo \"$*\" >> \"$2/calls\"\n" << body << "\n";
  return script;
}

size_t calls(const TempDir& dir) {
  if (!fs::exists(dir / "calls")) return 0;
  const auto text = read_text(dir / "calls");
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

/// Waits (up to a minute: a loaded machine) until the fake exporter has been called `n` times.
void wait_for_calls(const TempDir& dir, size_t n) {
  for (int i = 0; i < 6000 && calls(dir) < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(calls(dir), n);
}

struct Warnings {
  std::vector<std::string> lines;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) { lines.push_back(line); };
  }
};

TEST(TensorBoardExport, UpdatesWhileAnExportRunsBecomeOneMoreExportAtFinish) {
  TempDir dir;
  // The first export waits for DIR/release, so the updates below find it running.
  const auto script = fake_exporter(dir, "while [ ! -e \"$2/release\" ]; do sleep 0.01; done");
  Warnings warnings;
  TensorBoardExport tensorboard(
      dir.path(), dir / "tensorboard.log",
      TensorBoardExportOptions().python("/bin/sh").script(script).warn(warnings.sink()));
  EXPECT_EQ(tensorboard.status()["status"], "live");
  tensorboard.update();
  wait_for_calls(dir, 1);
  tensorboard.update();
  tensorboard.update();
  tensorboard.update();
  EXPECT_EQ(calls(dir), 1u);  // never two at once
  EXPECT_EQ(tensorboard.status()["status"], "live");
  std::ofstream(dir / "release") << "";
  const auto status = tensorboard.finish();
  EXPECT_EQ(calls(dir), 2u);  // the three updates became one export
  EXPECT_EQ(status["status"], "written");
  EXPECT_EQ(status["logdir"], "tensorboard");
  EXPECT_TRUE(warnings.lines.empty());
  EXPECT_EQ(read_text(dir / "calls"),
            "--quiet " + dir.path().string() + "\n--quiet " + dir.path().string() + "\n");
}

TEST(TensorBoardExport, AnExportThatEndedIsFollowedByANewOneAtTheNextUpdate) {
  TempDir dir;
  const auto script = fake_exporter(dir, "exit 0");
  TensorBoardExport tensorboard(dir.path(), dir / "tensorboard.log",
                                TensorBoardExportOptions().python("/bin/sh").script(script));
  tensorboard.update();
  wait_for_calls(dir, 1);
  // The first has ended (or ends now): the next update starts the second.
  tensorboard.update();
  tensorboard.finish();
  EXPECT_EQ(calls(dir), 2u);
}

TEST(TensorBoardExport, AMissingPythonWarnsOnceAndIsRecordedWithoutFailing) {
  TempDir dir;
  Warnings warnings;
  TensorBoardExport tensorboard(dir.path(), dir / "tensorboard.log",
                                TensorBoardExportOptions()
                                    .python((dir / "no-such-python").string())
                                    .script(dir / "tensorboard_export.py")
                                    .warn(warnings.sink()));
  for (int epoch = 0; epoch < 3; ++epoch) tensorboard.update();
  const auto status = tensorboard.finish();
  EXPECT_EQ(status["status"], "unavailable");
  EXPECT_THAT(status["reason"].get<std::string>(), HasSubstr((dir / "no-such-python").string()));
  ASSERT_EQ(warnings.lines.size(), 1u);
  EXPECT_THAT(warnings.lines[0], HasSubstr("TensorBoard logs of " + dir.path().string() + " are off: "));
  EXPECT_THAT(warnings.lines[0], HasSubstr("scripts/tensorboard_export.py " + dir.path().string()));
  EXPECT_EQ(warnings.lines[0].find('\n'), std::string::npos);
}

TEST(TensorBoardExport, AFailedExportStopsTheExportsAndKeepsItsLastLine) {
  TempDir dir;
  const auto script =
      fake_exporter(dir, "echo 'tensorboard_export.py: x/metrics.csv: cannot read' >&2; exit 1");
  Warnings warnings;
  TensorBoardExport tensorboard(
      dir.path(), dir / "tensorboard.log",
      TensorBoardExportOptions().python("/bin/sh").script(script).warn(warnings.sink()));
  tensorboard.update();
  wait_for_calls(dir, 1);
  const auto status = tensorboard.finish();
  EXPECT_EQ(status["status"], "unavailable");
  EXPECT_THAT(status["reason"].get<std::string>(),
              HasSubstr("failed (exit 1): tensorboard_export.py: x/metrics.csv: cannot read"));
  tensorboard.update();
  tensorboard.finish();
  EXPECT_EQ(calls(dir), 1u);  // not retried every epoch
  EXPECT_EQ(warnings.lines.size(), 1u);
}

TEST(TensorBoardExport, WithoutTheTensorBoardPackageTheReasonSaysSo) {
  TempDir dir;
  const auto script = fake_exporter(dir, "echo 'needs the tensorboard package' >&2; exit 3");
  TensorBoardExport tensorboard(dir.path(), dir / "tensorboard.log",
                                TensorBoardExportOptions().python("/bin/sh").script(script));
  tensorboard.update();
  const auto status = tensorboard.finish();
  EXPECT_EQ(status["status"], "unavailable");
  EXPECT_THAT(status["reason"].get<std::string>(),
              HasSubstr("/bin/sh has no tensorboard package (needs the tensorboard package)"));
}

TEST(TensorBoardExport, DisabledRunsNothing) {
  TempDir dir;
  const auto script = fake_exporter(dir, "exit 0");
  TensorBoardExport tensorboard(dir.path(), dir / "tensorboard.log",
                                TensorBoardExportOptions().enabled(false).python("/bin/sh").script(script));
  tensorboard.update();
  EXPECT_EQ(tensorboard.finish(), nlohmann::json({{"status", "off"}}));
  EXPECT_EQ(calls(dir), 0u);
}

TEST(TensorBoardExport, TheEnvironmentTurnsTheLogsOff) {
  // The test support sets TIEBREAK_TENSORBOARD=0 for every test; restored below.
  const std::string before = std::getenv("TIEBREAK_TENSORBOARD") ? std::getenv("TIEBREAK_TENSORBOARD") : "";
  for (const char* off : {"0", "false", "off", "no"}) {
    ::setenv("TIEBREAK_TENSORBOARD", off, 1);
    EXPECT_FALSE(tensorboard_wanted()) << off;
  }
  ::setenv("TIEBREAK_TENSORBOARD", "1", 1);
  EXPECT_TRUE(tensorboard_wanted());
  ::unsetenv("TIEBREAK_TENSORBOARD");
  EXPECT_TRUE(tensorboard_wanted());
  if (!before.empty()) ::setenv("TIEBREAK_TENSORBOARD", before.c_str(), 1);
}

}  // namespace
}  // namespace tiebreak
