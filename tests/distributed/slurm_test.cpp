#include "tiebreak/study/sweep.h"

#include "distributed/ranks.h"
#include "support/test_support.h"
#include "support/tiny_lenet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

namespace tiebreak::train {
namespace {

using namespace tiebreak::study;

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tiebreak::testing::run_tiebreak;
using tiebreak::testing::TempDir;

fs::path write_config(const fs::path& dir) {
  tiebreak::testing::TinyLenet task;
  task.train_size = 32;
  task.test_size = 20;
  task.classes = 3;
  task.batch_size = 16;
  task.test_batch_size = 20;
  task.epochs = 1;
  const auto j = tiebreak::testing::tiny_lenet_json(task);
  const auto path = dir / "sweep's config.json";  // a quote in the path exercises the script's quoting
  std::ofstream(path) << j.dump(2);
  return path;
}

std::vector<std::string> sbatch_lines(const std::string& script) {
  std::vector<std::string> lines;
  std::istringstream in(script);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#SBATCH ", 0) == 0) lines.push_back(line.substr(8));
  }
  return lines;
}

TEST(SlurmArray, EmitsAnArrayWhoseTaskKRunsShardK) {
  TempDir dir;
  const auto config = write_config(dir.path());
  const auto script_path = dir / "sweep.sbatch";
  const auto out = dir / "sweep";
  auto r = run_tiebreak("sweep \"" + config.string() + "\" --grid nonsmooth.beta=0,1,1000 --runs 2 --out " +
                        out.string() + " --emit-slurm " + script_path.string() + " --sbatch gres=gpu:1 " +
                        "--sbatch=--time=01:00:00");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("sbatch " + script_path.string()));
  EXPECT_FALSE(fs::exists(out / "sweep.json")) << "--emit-slurm must not train";
  EXPECT_TRUE(fs::is_directory(out / "slurm")) << "Slurm does not create the --output directory";

  const auto script = distributed::testing::read_file(script_path);
  EXPECT_EQ(script.rfind("#!/bin/bash\n", 0), 0u);
  EXPECT_THAT(sbatch_lines(script),
              ::testing::ElementsAre("--job-name=tiebreak-sweep", "--array=0-5", "--ntasks=1",
                                     "--output=" + (out / "slurm" / "%A_%a.out").string(), "--gres=gpu:1",
                                     "--time=01:00:00"));
  // 3 points x 2 runs = 6 units, one array task each.
  EXPECT_THAT(script, HasSubstr("--shard \"${SLURM_ARRAY_TASK_ID}/6\""));

  // Task 4 of the array, run the way Slurm would (bash ignores the #SBATCH lines): unit 4 is point 2
  // (beta=1000), run 0, and nothing else trains.
  auto env = distributed::testing::clean_environment({{"SLURM_ARRAY_TASK_ID", "4"}});
  std::vector<distributed::testing::Process> task{
      distributed::testing::spawn({"bash", script_path.string()}, env, dir / "task4")};
  distributed::testing::wait_all(task, std::chrono::seconds(300));
  ASSERT_EQ(task[0].exit_code, 0) << distributed::testing::read_file(task[0].err);
  std::vector<std::string> trained;
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    if (entry.path().filename() == "run.json") {
      EXPECT_EQ(nlohmann::json::parse(distributed::testing::read_file(entry.path())).at("status"),
                "finished");
      trained.push_back(fs::relative(entry.path().parent_path(), out).string());
    }
  }
  EXPECT_THAT(trained, ::testing::ElementsAre("beta=1000/run-0"));
}

TEST(SlurmArray, FewerTasksThanRunsAndBadCombinations) {
  TempDir dir;
  const auto config = write_config(dir.path());
  const auto script_path = dir / "s.sbatch";
  auto r = run_tiebreak("sweep \"" + config.string() + "\" --grid nonsmooth.beta=0,1,1000 --out " +
                        (dir / "o").string() + " --emit-slurm " + script_path.string() + " --slurm-tasks 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto script = distributed::testing::read_file(script_path);
  EXPECT_THAT(sbatch_lines(script), ::testing::Contains("--array=0-1"));
  EXPECT_THAT(script, HasSubstr("--shard \"${SLURM_ARRAY_TASK_ID}/2\""));

  r = run_tiebreak("sweep \"" + config.string() + "\" --shard 1/2 --out " + (dir / "o").string() +
                   " --emit-slurm " + script_path.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--emit-slurm: the array tasks are the shards; drop --shard 1/2"));
  r = run_tiebreak("sweep \"" + config.string() + "\" --out " + (dir / "o").string() + " --slurm-tasks 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("expected --emit-slurm FILE with them"));
  // A bad point is reported before any script is written.
  r = run_tiebreak("sweep \"" + config.string() + "\" --grid train.epochs=0 --out " + (dir / "o2").string() +
                   " --emit-slurm " + (dir / "bad.sbatch").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("train.epochs: expected a positive integer"));
  EXPECT_FALSE(fs::exists(dir / "bad.sbatch"));
}

}  // namespace
}  // namespace tiebreak::train

namespace tiebreak::train {
namespace {

TEST(SweepGpus, EachChildRunGetsOneGpuOfTheList) {
  TempDir dir;
  const auto config = write_config(dir.path());
  auto r = run_tiebreak("sweep \"" + config.string() +
                        "\" --grid nonsmooth.beta=0,1 --runs 2 --gpus 3,5 --out " + (dir / "o").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int> runs_per_gpu;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "o")) {
    if (entry.path().filename() != "run.json") continue;
    auto run = nlohmann::json::parse(distributed::testing::read_file(entry.path()));
    EXPECT_EQ(run.at("status"), "finished");
    ++runs_per_gpu[run.at("cuda_visible_devices").get<std::string>()];
  }
  int total = 0;
  for (const auto& [gpu, n] : runs_per_gpu) {
    EXPECT_TRUE(gpu == "3" || gpu == "5") << gpu;
    total += n;
  }
  EXPECT_EQ(total, 4);
  // Two at a time on two GPUs: each GPU ran at least one of the four (all on GPU 3 would pass the above).
  EXPECT_EQ(runs_per_gpu.size(), 2u);
  for (const auto& [gpu, n] : runs_per_gpu) EXPECT_GE(n, 1) << gpu;
  r = run_tiebreak("sweep \"" + config.string() + "\" --gpus 0,,1 --out " + (dir / "bad").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--gpus: expected comma-separated device indices or UUIDs, got an entry ''"));
}

}  // namespace
}  // namespace tiebreak::train
