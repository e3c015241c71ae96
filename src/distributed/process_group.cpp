#include "tiebreak/distributed/process_group.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#ifdef TIEBREAK_WITH_CUDA
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

namespace tiebreak::distributed {

namespace {

/// PyTorch DDP's broadcast bucket (250 MiB): the initial weights go out in few messages.
constexpr size_t kBroadcastBucketBytes = size_t{250} << 20;

/// What a failed collective most likely means, for the one-line error.
std::string failure_hint(std::chrono::milliseconds timeout) {
  return fmt::format("(a peer rank died, or waited longer than exp.distributed.timeout_seconds = {})",
                     static_cast<double>(timeout.count()) / 1000.0);
}

std::string first_line(const std::exception& e) {
  std::string what = e.what();
  if (auto* c10_error = dynamic_cast<const c10::Error*>(&e)) what = c10_error->what_without_backtrace();
  return what.substr(0, what.find('\n'));
}

std::string resolve_backend(const std::string& requested, c10::Device device) {
  TORCH_CHECK(requested == "auto" || requested == "gloo" || requested == "nccl",
              "exp.distributed.backend: expected auto, gloo or nccl, got '", requested, "'");
  const std::string backend = requested == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : requested;
  if (backend == "nccl") {
    TORCH_CHECK(device.is_cuda(), "exp.distributed.backend: nccl needs a CUDA device, the run uses ",
                device.str(), "; use gloo or auto");
#ifndef TIEBREAK_WITH_CUDA
    TORCH_CHECK(false,
                "exp.distributed.backend: nccl: this tiebreak was built without CUDA; rebuild with "
                "TIEBREAK_CUDA=ON or use gloo");
#endif
  }
  return backend;
}

}  // namespace

struct DistributedContext::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
};

DistributedContext::DistributedContext(const LaunchInfo& launch, c10::Device device,
                                       ProcessGroupOptions options)
    : launch_(launch),
      options_(std::move(options)),
      backend_(resolve_backend(options_.backend(), device)),
      device_(device),
      impl_(std::make_unique<Impl>()) {
  TORCH_CHECK(launch_.distributed(), "DistributedContext: expected a torchrun or srun launch, got none");
  TORCH_CHECK(options_.timeout().count() > 0, "exp.distributed.timeout_seconds: expected a positive timeout");
  const int rank = static_cast<int>(launch_.rank);
  const int size = static_cast<int>(launch_.world_size);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(launch_.master_port);
    store_options.isServer = !launch_.agent_store && rank == 0;
    store_options.numWorkers = static_cast<size_t>(size);
    store_options.timeout = options_.timeout();
    impl_->store = c10::make_intrusive<c10d::TCPStore>(launch_.master_addr, store_options);
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("distributed {}: rendezvous at {}:{} failed: {}", describe(),
                                       launch_.master_addr, launch_.master_port, first_line(e)));
  }
  try {
    impl_->group = c10::make_intrusive<c10d::ProcessGroup>(impl_->store, rank, size);
    if (backend_ == "gloo") {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create();
      gloo_options->timeout = options_.timeout();
      // GLOO_SOCKET_IFNAME picks the network interface as in PyTorch; otherwise
      // the host name's address (loopback when it does not resolve).
      if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
      } else {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank, size, gloo_options);
      impl_->group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
      if (device.is_cuda())
        impl_->group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::GLOO, gloo);
      impl_->group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
    } else {
#ifdef TIEBREAK_WITH_CUDA
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options_.timeout();
      auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, rank, size, nccl_options);
      impl_->group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
      impl_->group->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
#endif
    }
  } catch (const std::exception& e) {
    throw DistributedError(
        fmt::format("distributed {}: creating the process group failed: {}", describe(), first_line(e)));
  }
  barrier();
}

DistributedContext::~DistributedContext() = default;

const c10::intrusive_ptr<c10d::ProcessGroup>& DistributedContext::process_group() const {
  return impl_->group;
}

std::string DistributedContext::describe() const {
  return fmt::format("rank {} of {} ({})", launch_.rank, launch_.world_size, backend_);
}

void DistributedContext::broadcast(const std::vector<torch::Tensor>& tensors, int64_t root) {
  try {
    c10d::broadcast_coalesced(impl_->group, tensors, kBroadcastBucketBytes, static_cast<int>(root));
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("distributed {}: broadcast failed {}: {}", describe(),
                                       failure_hint(options_.timeout()), first_line(e)));
  }
}

void DistributedContext::all_reduce_sum(const std::vector<torch::Tensor>& tensors) {
  try {
    for (const auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      impl_->group->allreduce(one)->wait();
    }
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("distributed {}: all-reduce failed {}: {}", describe(),
                                       failure_hint(options_.timeout()), first_line(e)));
  }
}

void DistributedContext::barrier() {
  try {
    c10d::BarrierOptions barrier_options;
    barrier_options.timeout = options_.timeout();
    if (device_.is_cuda() && device_.has_index())
      barrier_options.device_ids = {static_cast<int64_t>(device_.index())};
    impl_->group->barrier(barrier_options)->wait();
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("distributed {}: barrier failed {}: {}", describe(),
                                       failure_hint(options_.timeout()), first_line(e)));
  }
}

}  // namespace tiebreak::distributed
