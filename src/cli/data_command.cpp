#include "cli/commands.h"

#include "tiebreak/data/registry.h"
#include "tiebreak/data/verify.h"

#include <iostream>
#include <memory>

namespace tiebreak::cli {

namespace {

// Datasets `data verify` checks when none is named (synthetic needs no files).
const std::vector<std::string> kFileDatasets = {"mnist",     "fashion-mnist", "kmnist",  "cifar-10",
                                                "cifar-100", "svhn",          "imagenet"};

struct VerifyArgs {
  std::string root;
  std::vector<std::string> datasets;
  bool decode = false;
  int64_t threads = 0;
};

int run_verify(const VerifyArgs& args) {
  const auto root = data::resolve_data_root(args.root);
  const bool named = !args.datasets.empty();
  std::vector<data::DatasetReport> reports;
  for (const auto& name : named ? args.datasets : kFileDatasets) {
    reports.push_back(
        data::verify_dataset(name, root, data::VerifyOptions().decode(args.decode).threads(args.threads)));
  }
  std::cout << "data root: " << root.string() << "\n" << data::format_verify_table(reports);
  int corrupt = 0, absent = 0;
  for (const auto& r : reports) {
    corrupt += r.status == data::DatasetReport::Status::Corrupt;
    absent += named && (r.status == data::DatasetReport::Status::Missing ||
                        r.status == data::DatasetReport::Status::Incomplete);
  }
  if (corrupt + absent > 0) {
    std::cerr << "tiebreak: error: data verify: " << corrupt << " corrupt and " << absent
              << " missing or incomplete dataset(s) under " << root.string() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void add_data_command(CLI::App& app, Action& action) {
  auto* data = app.add_subcommand("data", "Datasets: check the files under the data root");
  data->require_subcommand(1);
  auto args = std::make_shared<VerifyArgs>();
  auto* verify = data->add_subcommand(
      "verify",
      "Table of each known dataset: present/missing/corrupt, example counts, checksum status. Exit code 1 "
      "when a "
      "dataset is corrupt, or a dataset named on the command line is missing or incomplete");
  verify->add_option("--root,--data-root", args->root,
                     "Data root with one folder per dataset (default: $TIEBREAK_DATA, else ./data)");
  verify->add_option("datasets", args->datasets, "Datasets to check (default: all with files)");
  verify->add_flag(
      "--decode", args->decode,
      "Image folders (ImageNet): decode every image as training does and list each one that fails");
  verify->add_option("--threads", args->threads, "Threads for --decode (default: one per hardware thread)")
      ->check(positive_integer());
  verify->callback([&action, args] { action = [args] { return run_verify(*args); }; });
}

}  // namespace tiebreak::cli
