#include "support/test_support.h"
#include "tiebreak/core/build_info.h"

#include <gtest/gtest.h>
#include <torch/version.h>

using tiebreak::testing::run_tiebreak;

TEST(BuildInfo, ReportsPinnedLibTorchAndCuda) {
  auto info = tiebreak::build_info();
  EXPECT_EQ(info.libtorch_version, TORCH_VERSION);
  EXPECT_EQ(info.libtorch_version.rfind("2.11.0", 0), 0u) << "LibTorch is pinned to 2.11.0";
  EXPECT_EQ(info.cuda_available, info.cuda_device_count > 0);
  auto text = tiebreak::format_build_info(info);
  EXPECT_NE(text.find("LibTorch 2.11.0"), std::string::npos) << text;
  EXPECT_NE(text.find("CUDA available"), std::string::npos) << text;
}

TEST(Cli, VersionFlagPrintsVersions) {
  auto r = run_tiebreak("--version");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tiebreak 0."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cuDNN"), std::string::npos) << r.out;
}

TEST(Cli, UnknownFlagIsOneLineErrorAndNonZeroExit) {
  auto r = run_tiebreak("--no-such-flag");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no-such-flag"), std::string::npos) << r.err;
}
