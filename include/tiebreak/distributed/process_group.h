#pragma once

#include "tiebreak/distributed/launch.h"

#include <c10/core/Device.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace c10d {
class ProcessGroup;
}

namespace tiebreak::distributed {

/// How a DistributedContext builds its c10d process group.
///
/// Example:
/// ```
/// auto options = ProcessGroupOptions().backend("gloo").timeout(std::chrono::seconds(60));
/// ```
struct ProcessGroupOptions {
  /// "auto" (nccl for a CUDA device, gloo otherwise), "gloo" or "nccl".
  TORCH_ARG(std::string, backend) = "auto";
  /// How long the rendezvous and each collective may wait for the other ranks.
  TORCH_ARG(std::chrono::milliseconds, timeout) = std::chrono::minutes(10);
};

/// One rank of a data-parallel job: the c10d::TCPStore rendezvous and a c10d
/// process group (ProcessGroupGloo on the CPU, ProcessGroupNCCL on CUDA) over
/// which the ranks broadcast and all-reduce. Collectives that fail — a peer
/// died, the timeout elapsed — throw DistributedError.
///
/// Example:
/// ```
/// auto launch = launch_from_environment();
/// DistributedContext ctx(launch, torch::kCPU, ProcessGroupOptions().backend("gloo"));
/// auto total = torch::ones({1});
/// ctx.all_reduce_sum({total});  // total == world size on every rank
/// ```
class DistributedContext {
 public:
  /// Joins the job `launch` describes; blocks until every rank has arrived
  /// (or options.timeout() elapses). `device` is where this rank computes.
  DistributedContext(const LaunchInfo& launch, c10::Device device, ProcessGroupOptions options);
  ~DistributedContext();
  DistributedContext(const DistributedContext&) = delete;
  DistributedContext& operator=(const DistributedContext&) = delete;

  int64_t rank() const { return launch_.rank; }
  int64_t world_size() const { return launch_.world_size; }
  int64_t local_rank() const { return launch_.local_rank; }
  /// Rank 0: the rank that writes metrics, logs and checkpoints.
  bool is_main() const { return launch_.rank == 0; }
  /// "gloo" or "nccl".
  const std::string& backend() const { return backend_; }
  /// Where this rank computes: the device its collectives' tensors live on.
  c10::Device device() const { return device_; }
  const LaunchInfo& launch() const { return launch_; }
  const ProcessGroupOptions& options() const { return options_; }
  /// The c10d process group (for c10d APIs such as c10d::Reducer).
  const c10::intrusive_ptr<c10d::ProcessGroup>& process_group() const;

  /// Overwrites `tensors` on every rank with rank `root`'s values (coalesced into few messages).
  void broadcast(const std::vector<torch::Tensor>& tensors, int64_t root = 0);
  /// Replaces each tensor by its element-wise sum over all ranks.
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors);
  /// Returns once every rank has called it.
  void barrier();

  /// "rank R of W (backend)": prefixes errors and log lines.
  std::string describe() const;

 private:
  LaunchInfo launch_;
  ProcessGroupOptions options_;
  std::string backend_;
  c10::Device device_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A collective or the rendezvous failed: a peer rank died or stalled past the timeout.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tiebreak::distributed
