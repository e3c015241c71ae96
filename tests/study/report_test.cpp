// The study's reference numbers and the reproduction report (tiebreak report).
#include "tiebreak/study/report.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/metrics.h"

#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace tiebreak::study {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using tiebreak::testing::error_message;
using tiebreak::testing::TempDir;

const fs::path kPaper = tiebreak::testing::source_dir() / "configs" / "paper";

TEST(StudyReference, BuiltinHoldsThePublishedTable) {
  const auto study = StudyReference::builtin();
  EXPECT_EQ(study.results().size(), 139u);  // the rows of reference/study/study_results.csv
  const auto r = study.result({"mnist", "lenet", false, "sgd", 32, 0.0});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->runs, 10);
  EXPECT_EQ(r->epochs, 100);
  EXPECT_EQ(r->epoch0_mean, 0.9789);
  EXPECT_EQ(r->epoch0_std, 0.0019);
  EXPECT_EQ(r->epoch1_mean, 0.9848);
  EXPECT_EQ(r->final_std, 0.0006);
  EXPECT_FALSE(study.result({"mnist", "lenet", false, "sgd", 64, 0.0}).has_value());
  // The β = 0 rate of the configuration, whatever β is asked for.
  EXPECT_EQ(study.learning_rate({"mnist", "lenet", false, "sgd", 32, 1000.0}), 0.03527836040468771);
  EXPECT_FALSE(study.learning_rate({"mnist", "lenet", false, "sgd", 64, 0.0}).has_value());
}

TEST(StudyReference, MalformedCsvIsAOneLineErrorNamingFileLineAndColumn) {
  const std::string header =
      "dataset,model,batch_norm,optimizer,bits,beta,runs,epochs,epoch0_test_acc_mean,epoch0_test_acc_std,"
      "epoch1_test_acc_mean,final_test_acc_mean,final_test_acc_std\n";
  EXPECT_THAT(error_message([&] {
                StudyReference::parse(header + "mnist,lenet,false,sgd,32,0.0,ten,100,1,0,1,1,0\n", "r.csv");
              }),
              HasSubstr("r.csv: line 2: column runs: expected a number, got 'ten'"));
  EXPECT_THAT(error_message([&] { StudyReference::parse("dataset,model\nmnist,lenet\n", "r.csv"); }),
              HasSubstr("r.csv: expected a column 'batch_norm'"));
  EXPECT_THAT(error_message([&] { StudyReference::parse(header + "mnist,lenet\n", "r.csv"); }),
              HasSubstr("r.csv: line 2: expected 13 fields, got 2"));
}

TEST(StudyReference, DivergedRunsFromMeanAndSpread) {
  // All runs at the share of class 0 with no spread: all diverged (MNIST fp16 β = 1000).
  EXPECT_EQ(estimated_diverged_runs(0.098, 0.0, 10, 0.098), 10);
  // CIFAR-10 VGG11 32 bits β = 10^4, final: 0.2619 ± 0.362 over 5 runs = 4 at 0.100 and one at ~0.91.
  EXPECT_EQ(estimated_diverged_runs(0.2619, 0.362, 5, 0.100), 4);
  // MNIST BN fp16 β = 1000 at epoch 0: 0.6129 ± 0.4204 over 10.
  EXPECT_EQ(estimated_diverged_runs(0.6129, 0.4204, 10, 0.098), 4);
  // Healthy runs: none.
  EXPECT_EQ(estimated_diverged_runs(0.9789, 0.0019, 10, 0.098), 0);
  // A slow first epoch near chance (VGG11 fp16 without BN: 0.1064 ± 0.0105) says nothing.
  EXPECT_FALSE(estimated_diverged_runs(0.1064, 0.0105, 10, 0.100).has_value());
  // Without a spread only "all" can be told.
  EXPECT_FALSE(estimated_diverged_runs(0.5, std::nan(""), 10, 0.1).has_value());
  EXPECT_EQ(class0_share("mnist"), 0.098);
  EXPECT_NEAR(*class0_share("svhn"), 0.067, 1e-3);
  EXPECT_FALSE(class0_share("imagenet").has_value());
}

TEST(StudyReference, PaperConfigsMapToTheirKeyWithoutDepartures) {
  const auto study = StudyReference::builtin();
  for (const char* name : {"mnist_lenet5_sgd_nobn_fp32.json", "mnist_lenet5_sgd_bn_amp_fp16.json",
                           "cifar10_resnet18_sgd_bn_fp16.json", "cifar10_densenet121_sgd_nobn_fp16.json",
                           "svhn_vgg11_sgd_bn_fp32.json", "cifar10_vgg11_adam_nobn_fp32.json"}) {
    SCOPED_TRACE(name);
    const auto c = config::load_config(kPaper / name, {"nonsmooth.beta=10"}).config;
    const auto key = study_key(c);
    ASSERT_TRUE(key.key.has_value()) << key.reason;
    EXPECT_EQ(key.key->beta, 10.0);
    EXPECT_TRUE(study.result(*key.key).has_value());
    EXPECT_EQ(departures(c, *key.key, study), std::vector<std::string>{});
  }
  const auto mnist = kPaper / "mnist_lenet5_sgd_nobn_fp32.json";
  auto with = [&](const std::string& set) {
    const auto c = config::load_config(mnist, {set}).config;
    return departures(c, *study_key(c).key, study);
  };
  EXPECT_THAT(with("nonsmooth.formulation=pure"), ::testing::ElementsAre(HasSubstr("formulation pure")));
  EXPECT_THAT(with("data.train_limit=12800"), ::testing::ElementsAre(HasSubstr("train subset")));
  EXPECT_THAT(with("train.optimizer.lr=0.1"), ::testing::ElementsAre(HasSubstr("learning rate 0.1")));
  EXPECT_THAT(with("model.init=kaiming"), ::testing::ElementsAre(HasSubstr("model.init kaiming")));
  EXPECT_THAT(with("data.batch_size=64"), ::testing::ElementsAre(HasSubstr("batch size 64")));
  const auto fp64 = config::load_config(mnist, {"train.precision=fp64"}).config;
  EXPECT_THAT(study_key(fp64).reason, HasSubstr("precision fp64"));
  const auto fashion = config::load_config(mnist, {"data.dataset=fashion-mnist"}).config;
  EXPECT_THAT(study_key(fashion).reason, HasSubstr("dataset fashion-mnist"));
}

/// A run directory as `tiebreak train` leaves it: the resolved config and one metrics row per accuracy.
void write_run(const fs::path& dir, const fs::path& config, const std::vector<std::string>& sets,
               const std::vector<double>& accuracies, bool diverged = false, int64_t run_id = 0) {
  fs::create_directories(dir);
  const auto loaded = config::load_config(config, sets);
  tiebreak::write_text_atomically(dir / "config.json", loaded.json.dump(2));
  std::vector<train::EpochMetrics> rows;
  for (size_t e = 0; e < accuracies.size(); ++e) {
    train::EpochMetrics r;
    r.run_id = run_id;
    r.epoch = static_cast<int64_t>(e);
    r.test_accuracy = accuracies[e];
    r.diverged = diverged;
    rows.push_back(r);
  }
  tiebreak::write_text_atomically(dir / "metrics.csv", train::format_metrics_csv(rows));
  tiebreak::write_text_atomically(dir / "run.json", nlohmann::json({{"status", "stopped"}}).dump());
}

const EpochComparison& at(const ReportRow& row, const std::string& label) {
  for (const auto& c : row.epochs)
    if (c.label == label) return c;
  throw std::runtime_error("no " + label);
}

TEST(Report, ComparesEachConfigurationWithTheStudy) {
  TempDir dir;
  const auto mnist32 = kPaper / "mnist_lenet5_sgd_nobn_fp32.json";
  const auto mnist16 = kPaper / "mnist_lenet5_sgd_nobn_fp16.json";
  // β = 0: the study's 0.9789 ± 0.0019 and 0.9848 after epoch 1; stopped after 2 of its 100 epochs.
  const std::vector<std::vector<double>> agree{{0.978, 0.9845}, {0.9795, 0.9852}, {0.977, 0.9840}};
  for (size_t k = 0; k < 3; ++k)
    write_run(dir / "sweep" / "beta=0" / ("run-" + std::to_string(k)), mnist32,
              {"nonsmooth.beta=0", "train.seed=0"}, agree[k], false, static_cast<int64_t>(k));
  // β = 1000 far below the study's 0.9795 ± 0.0022.
  for (int k = 0; k < 3; ++k)
    write_run(dir / "sweep" / "beta=1000" / ("run-" + std::to_string(k)), mnist32, {"nonsmooth.beta=1000"},
              {0.90 + 0.005 * k});
  // fp16 β = 1000: every run diverged in its first epoch, as every one of the study's.
  for (int k = 0; k < 2; ++k)
    write_run(dir / "fp16" / ("run-" + std::to_string(k)), mnist16, {"nonsmooth.beta=1000"}, {0.098}, true);
  // Not the study's: fp64, and the pure formulation.
  write_run(dir / "fp64" / "run-0", mnist32, {"train.precision=fp64"}, {0.98});
  write_run(dir / "pure" / "run-0", mnist32, {"nonsmooth.formulation=pure"}, {0.98});

  ReportOptions options;
  options.roots = {dir.path()};
  const auto report = build_report(options, StudyReference::builtin());
  ASSERT_EQ(report.rows.size(), 4u);  // fp16 β=1000, fp32 β=0, fp32 β=1000 (mixture), fp32 β=0 pure

  const ReportRow* zero = nullptr;
  const ReportRow* big = nullptr;
  const ReportRow* diverged = nullptr;
  const ReportRow* pure = nullptr;
  for (const auto& r : report.rows) {
    if (r.key.bits == 16) diverged = &r;
    if (r.key.bits == 32 && r.key.beta == 1000) big = &r;
    if (r.key.bits == 32 && r.key.beta == 0 && r.departures.empty()) zero = &r;
    if (!r.departures.empty()) pure = &r;
  }
  ASSERT_TRUE(zero && big && diverged && pure);
  EXPECT_EQ(zero->runs.size(), 3u);
  EXPECT_EQ(zero->epochs_done, 2);
  EXPECT_EQ(at(*zero, "epoch 0").test, "welch");
  EXPECT_EQ(at(*zero, "epoch 0").verdict, "agrees");
  EXPECT_NEAR(at(*zero, "epoch 0").mean, (0.978 + 0.9795 + 0.977) / 3, 1e-12);
  EXPECT_EQ(at(*zero, "epoch 1").test, "t1");  // the study published no spread after epoch 1
  EXPECT_EQ(at(*zero, "epoch 1").verdict, "agrees");
  EXPECT_EQ(at(*zero, "final").verdict, "not comparable");
  EXPECT_THAT(at(*zero, "final").note, HasSubstr("2 of 100 epochs done"));
  EXPECT_EQ(zero->verdict, "agrees (epoch 0, epoch 1)");

  EXPECT_EQ(at(*big, "epoch 0").verdict, "differs");
  EXPECT_LT(at(*big, "epoch 0").p_value, 0.01);
  EXPECT_EQ(big->verdict, "differs (epoch 0)");

  EXPECT_EQ(at(*diverged, "epoch 0").test, "exact");
  EXPECT_EQ(at(*diverged, "epoch 0").verdict, "agrees");
  EXPECT_EQ(at(*diverged, "epoch 0").diverged, 2);
  EXPECT_EQ(at(*diverged, "epoch 0").study_diverged, 10);

  EXPECT_THAT(pure->verdict, HasSubstr("not comparable: formulation pure"));

  bool fp64_listed = false, final_listed = false;
  for (const auto& u : report.uncompared) {
    if (u.reason.find("precision fp64") != std::string::npos) fp64_listed = true;
    if (u.what.find("final epoch (99)") != std::string::npos) final_listed = true;
  }
  EXPECT_TRUE(fp64_listed);
  EXPECT_TRUE(final_listed);

  const auto md = report.markdown();
  EXPECT_THAT(md, HasSubstr("## mnist lenet no BN sgd 32 bits"));
  EXPECT_THAT(md, HasSubstr("## What could not be compared"));
  EXPECT_THAT(md, HasSubstr("| 0 | 3 / 10 | 2 / 100 |"));
  const auto csv = report.csv();
  EXPECT_THAT(csv, HasSubstr("dataset,model,batch_norm,optimizer,bits,beta,compared,epoch,runs,mean,std"));
  EXPECT_THAT(csv, HasSubstr("mnist,lenet,false,sgd,32,1000,epoch 0,0,3,"));
  EXPECT_THAT(report.curves_csv(), HasSubstr("mnist,lenet,false,sgd,32,0,study,99,10,0.9926,0.0006"));
}

TEST(Report, WelchTestAgainstTheClosedFormOfTwoDegreesOfFreedom) {
  // Two runs on each side with equal spread: Welch's df is exactly 2, where the t distribution has the closed
  // form p = 1 − |t| / √(2 + t²).
  const std::string csv =
      "dataset,model,batch_norm,optimizer,bits,beta,runs,epochs,epoch0_test_acc_mean,epoch0_test_acc_std,"
      "epoch1_test_acc_mean,final_test_acc_mean,final_test_acc_std\n"
      "mnist,lenet,false,sgd,32,0.0,2,100,0.98,0.0070710678118654752,0.99,0.99,0.001\n";
  TempDir dir;
  write_run(dir / "run-0", kPaper / "mnist_lenet5_sgd_nobn_fp32.json", {}, {0.97});
  write_run(dir / "run-1", kPaper / "mnist_lenet5_sgd_nobn_fp32.json", {"train.seed=1"}, {0.98});
  ReportOptions options;
  options.roots = {dir.path()};
  const auto report = build_report(options, StudyReference::parse(csv, "two.csv"));
  ASSERT_EQ(report.rows.size(), 1u);
  const auto& c = at(report.rows[0], "epoch 0");
  const double t = (0.975 - 0.98) / std::sqrt(0.00005 / 2 + 0.00005 / 2);
  EXPECT_NEAR(c.statistic, t, 1e-9);
  EXPECT_NEAR(c.p_value, 1 - std::abs(t) / std::sqrt(2 + t * t), 1e-6);
  EXPECT_EQ(c.verdict, "agrees");
}

TEST(Report, EmptyForeignAndMissingDirectoriesAreOneLineErrors) {
  TempDir dir;
  fs::create_directories(dir / "empty");
  ReportOptions options;
  options.roots = {dir / "empty"};
  EXPECT_THAT(error_message([&] { build_report(options, StudyReference::builtin()); }),
              HasSubstr("empty: no tiebreak runs below it"));
  // Someone else's results: a metrics.csv without tiebreak's config.json beside it.
  fs::create_directories(dir / "foreign");
  std::ofstream(dir / "foreign" / "metrics.csv") << "run_id,epoch,test_accuracy\n0,0,0.5\n";
  options.roots = {dir / "foreign"};
  EXPECT_THAT(error_message([&] { build_report(options, StudyReference::builtin()); }),
              HasSubstr("config.json: missing"));
  options.roots = {dir / "nowhere"};
  EXPECT_THAT(error_message([&] { build_report(options, StudyReference::builtin()); }),
              HasSubstr("nowhere: not a directory"));
}

TEST(ReportCli, WritesMarkdownAndCsvAndFailsInOneLine) {
  TempDir dir;
  write_run(dir / "runs" / "run-0", kPaper / "mnist_lenet5_sgd_nobn_fp32.json", {}, {0.978});
  auto ok = tiebreak::testing::run_tiebreak("report " + (dir / "runs").string() + " --no-plots --out " +
                                            (dir / "report").string());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("1 configurations compared"));
  for (const char* f : {"report.md", "report.csv", "curves.csv"})
    EXPECT_TRUE(fs::exists(dir / "report" / f)) << f;
  EXPECT_THAT(tiebreak::read_text(dir / "report" / "report.md"), HasSubstr("| 0 | 1 / 10 | 1 / 100 |"));

  fs::create_directories(dir / "empty");
  auto bad = tiebreak::testing::run_tiebreak("report " + (dir / "empty").string() + " --no-plots");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("no tiebreak runs below it"));
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  auto missing_reference = tiebreak::testing::run_tiebreak(
      "report " + (dir / "runs").string() + " --no-plots --reference " + (dir / "none.csv").string());
  EXPECT_NE(missing_reference.exit_code, 0);
  EXPECT_THAT(missing_reference.err, HasSubstr("none.csv"));
}

}  // namespace
}  // namespace tiebreak::study
