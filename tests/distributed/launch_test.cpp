#include "tiebreak/distributed/launch.h"

#include "distributed/ranks.h"
#include "support/test_support.h"

#include <c10/util/Exception.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace tiebreak::distributed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

EnvironmentLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string launch_error(std::map<std::string, std::string> vars) {
  try {
    launch_from_environment(env_of(std::move(vars)));
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

const std::map<std::string, std::string> kTorchrun = {{"RANK", "1"},
                                                      {"WORLD_SIZE", "4"},
                                                      {"LOCAL_RANK", "1"},
                                                      {"MASTER_ADDR", "node7"},
                                                      {"MASTER_PORT", "29511"}};

TEST(DistributedLaunch, NoLauncherVariablesIsASingleProcessRun) {
  EXPECT_FALSE(launch_from_environment(env_of({})).distributed());
  // A one-task Slurm job (an sbatch array task) is a plain run too, without MASTER_*.
  auto one_task = launch_from_environment(env_of({{"SLURM_NTASKS", "1"}, {"SLURM_PROCID", "0"}}));
  EXPECT_FALSE(one_task.distributed());
}

TEST(DistributedLaunch, ReadsTorchrunVariables) {
  auto info = launch_from_environment(env_of(kTorchrun));
  EXPECT_EQ(info.launcher, Launcher::Torchrun);
  EXPECT_EQ(info.rank, 1);
  EXPECT_EQ(info.world_size, 4);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.master_addr, "node7");
  EXPECT_EQ(info.master_port, 29511);
  EXPECT_FALSE(info.agent_store);
  auto vars = kTorchrun;
  vars["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  EXPECT_TRUE(launch_from_environment(env_of(vars)).agent_store);
}

TEST(DistributedLaunch, ReadsSlurmVariablesWhenTorchrunsAreAbsent) {
  auto info = launch_from_environment(env_of({{"SLURM_NTASKS", "8"},
                                              {"SLURM_PROCID", "5"},
                                              {"SLURM_LOCALID", "1"},
                                              {"MASTER_ADDR", "gpu01"},
                                              {"MASTER_PORT", "29500"}}));
  EXPECT_EQ(info.launcher, Launcher::Slurm);
  EXPECT_EQ(info.rank, 5);
  EXPECT_EQ(info.world_size, 8);
  EXPECT_EQ(info.local_rank, 1);
  // torchrun's variables win (torchrun started inside an allocation).
  auto both = kTorchrun;
  both["SLURM_NTASKS"] = "2";
  EXPECT_EQ(launch_from_environment(env_of(both)).launcher, Launcher::Torchrun);
}

TEST(DistributedLaunch, BadVariablesAreOneLineErrorsNamingThem) {
  auto vars = kTorchrun;
  vars["RANK"] = "4";
  auto error = launch_error(vars);
  EXPECT_THAT(error, HasSubstr("RANK=4: expected this process's rank in [0, WORLD_SIZE=4)"));
  EXPECT_THAT(error, Not(HasSubstr("\n")));

  vars = kTorchrun;
  vars.erase("MASTER_PORT");
  EXPECT_THAT(launch_error(vars), HasSubstr("MASTER_PORT is not set"));
  vars["MASTER_PORT"] = "70000";
  EXPECT_THAT(launch_error(vars), HasSubstr("MASTER_PORT=70000: expected the rendezvous TCP port"));
  vars = kTorchrun;
  vars.erase("MASTER_ADDR");
  EXPECT_THAT(launch_error(vars), HasSubstr("MASTER_ADDR is not set"));
  vars = kTorchrun;
  vars["WORLD_SIZE"] = "four";
  EXPECT_THAT(launch_error(vars), HasSubstr("WORLD_SIZE=four: expected the number of processes"));
  vars = kTorchrun;
  vars.erase("WORLD_SIZE");
  EXPECT_THAT(launch_error(vars), HasSubstr("WORLD_SIZE is not set"));
  EXPECT_THAT(launch_error({{"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"}}),
              HasSubstr("SLURM_PROCID is not set"));
}

TEST(DistributedLaunch, CliReportsBadLauncherVariablesBeforeTraining) {
  tiebreak::testing::TempDir dir;
  std::ofstream(dir / "x.json") << "{}";
  auto env = testing::clean_environment(
      {{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}});
  std::vector<testing::Process> p{testing::spawn({tiebreak::testing::tiebreak_binary(), "train",
                                                  (dir / "x.json").string(), "--out", (dir / "out").string()},
                                                 env, dir / "cli")};
  testing::wait_all(p, std::chrono::seconds(120));
  EXPECT_EQ(p[0].exit_code, 1);
  EXPECT_EQ(testing::read_file(p[0].err),
            "tiebreak: error: environment: RANK=2: expected this process's rank in [0, WORLD_SIZE=2)\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

TEST(DistributedLaunch, SweepRefusesADistributedLaunch) {
  tiebreak::testing::TempDir dir;
  std::ofstream(dir / "x.json") << "{}";
  auto env = testing::clean_environment(
      {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}});
  std::vector<testing::Process> p{testing::spawn({tiebreak::testing::tiebreak_binary(), "sweep",
                                                  (dir / "x.json").string(), "--out", (dir / "out").string()},
                                                 env, dir / "cli")};
  testing::wait_all(p, std::chrono::seconds(120));
  EXPECT_EQ(p[0].exit_code, 1);
  EXPECT_THAT(testing::read_file(p[0].err), HasSubstr("only `tiebreak train` runs data-parallel"));
}

}  // namespace
}  // namespace tiebreak::distributed
