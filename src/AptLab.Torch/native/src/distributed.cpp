// c10d process groups: a TCPStore rendezvous and libtorch's Gloo (CPU) or NCCL (CUDA build) backends.
//
// A group crosses the boundary as an owned `Group*` (PG). Collectives run synchronously (issue, then wait);
// a failure, including the backend's timeout when a peer dies or stops answering, is reported through
// apt_last_error as "<op> failed on rank r of w (<backend>): <cause>" and the call returns -1 / nullptr.
#include "common.h"

#ifdef APTLAB_WITH_C10D
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <chrono>

namespace {
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::string backend;
  int rank = 0, size = 1;
  std::chrono::milliseconds timeout{0};
};

std::string message(const std::exception& e) {
  auto c10 = dynamic_cast<const c10::Error*>(&e);
  return c10 ? c10->what_without_backtrace() : e.what();
}

// Runs a collective, turning any exception into one message naming the operation and this rank.
template <typename F>
int run(Group* g, const char* op, F&& body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    aptlab::set_error((std::string(op) + " failed on rank " + std::to_string(g->rank) + " of " +
                       std::to_string(g->size) + " (" + g->backend + "): " + message(e))
                          .c_str());
  }
  return -1;
}

// Gloo's collectives take float, double, half and the integer types; other dtypes (bfloat16, bool) travel as their
// bytes (exact for gathers and broadcasts; sums need a real dtype).
at::Tensor as_gloo_bytes(const at::Tensor& t) {
  auto s = t.scalar_type();
  bool native = s == at::kFloat || s == at::kDouble || s == at::kHalf || s == at::kByte || s == at::kChar ||
                s == at::kInt || s == at::kLong;
  return native ? t : t.view(at::kByte);
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case 0: return c10d::ReduceOp::SUM;
    case 2: return c10d::ReduceOp::MAX;
    case 3: return c10d::ReduceOp::MIN;
    case 4: return c10d::ReduceOp::PRODUCT;
    default: throw std::runtime_error("unknown reduce op " + std::to_string(op));
  }
}
}  // namespace

typedef Group* PG;

API const char* apt_c10d_backends() {
#ifdef USE_C10D_NCCL
  return "gloo,nccl";
#else
  return "gloo";
#endif
}

// Rendezvous through a TCPStore at host:port (rank 0 hosts it) and creates the group's backend.
// device_iface / device_host pick the address Gloo binds to (interface name, else hostname, else default).
API PG apt_pg_new(const char* backend, const char* host, int port, int rank, int size, int64_t timeout_ms,
                  const char* prefix, const char* device_iface, const char* device_host) {
  APT_TRY
  if (size < 1 || rank < 0 || rank >= size)
    throw std::runtime_error("rank " + std::to_string(rank) + " is outside world size " + std::to_string(size));
  if (port < 1 || port > 65535) throw std::runtime_error("port " + std::to_string(port) + " is not a TCP port");
  if (std::string(backend) != "gloo" && std::string(backend) != "nccl")
    throw std::runtime_error("unknown c10d backend '" + std::string(backend) + "' (gloo, nccl)");
#ifndef USE_C10D_NCCL
  if (std::string(backend) == "nccl")
    throw std::runtime_error("backend 'nccl' needs the shim built against a CUDA libtorch (this build has gloo)");
#endif
  auto timeout = std::chrono::milliseconds(timeout_ms);
  c10d::TCPStoreOptions so;
  so.port = (uint16_t)port;
  so.isServer = rank == 0;
  so.numWorkers = (size_t)size;
  so.waitWorkers = true;
  so.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
  } catch (const std::exception& e) {
    throw std::runtime_error("rendezvous at " + std::string(host) + ":" + std::to_string(port) + " (rank " +
                             std::to_string(rank) + " of " + std::to_string(size) + ") failed: " + message(e));
  }
  auto store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), tcp);
  auto g = std::make_unique<Group>();
  g->store = tcp;
  g->backend = backend;
  g->rank = rank;
  g->size = size;
  g->timeout = timeout;
  try {
    if (g->backend == "gloo") {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      std::string iface = device_iface ? device_iface : "", dhost = device_host ? device_host : "";
      if (!iface.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
      else if (!dhost.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(dhost));
      else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      opts->threads = 2;
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
    } else {
#ifdef USE_C10D_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, opts);
#endif
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("creating the " + g->backend + " group through " + std::string(host) + ":" +
                             std::to_string(port) + " (rank " + std::to_string(rank) + " of " +
                             std::to_string(size) + ", timeout " + std::to_string(timeout_ms) +
                             " ms) failed; did every rank start? " + message(e));
  }
  return g.release();
  APT_CATCH(nullptr)
}

API void apt_pg_free(PG g) { delete g; }
API int apt_pg_rank(PG g) { return g->rank; }
API int apt_pg_size(PG g) { return g->size; }

// In place; op 0 sum, 1 avg (sum / size), 2 max, 3 min, 4 product.
API int apt_pg_allreduce(PG g, TH t, int op) {
  return run(g, "all_reduce", [&] {
    c10d::AllreduceOptions o;
    o.reduceOp = reduce_op(op == 1 ? 0 : op);
    std::vector<at::Tensor> v{*t};
    g->pg->allreduce(v, o)->wait();
    if (op == 1) t->div_(g->size);
  });
}

API int apt_pg_broadcast(PG g, TH t, int root) {
  return run(g, "broadcast", [&] {
    if (root < 0 || root >= g->size) throw std::runtime_error("root rank " + std::to_string(root) + " out of range");
    c10d::BroadcastOptions o;
    o.rootRank = root;
    bool bytes = g->backend == "gloo" && t->is_contiguous() && as_gloo_bytes(*t).scalar_type() != t->scalar_type();
    std::vector<at::Tensor> v{bytes ? as_gloo_bytes(t->reshape({-1})) : *t};
    g->pg->broadcast(v, o)->wait();
  });
}

// Every rank's `t` (same shape on all ranks), in rank order, as `size` new tensors.
API int apt_pg_allgather(PG g, TH t, TH* out, int capacity) {
  std::vector<at::Tensor> result;
  int rc = run(g, "all_gather", [&] {
    std::vector<std::vector<at::Tensor>> outs(1);
    for (int r = 0; r < g->size; r++) outs[0].push_back(at::empty_like(*t));
    std::vector<at::Tensor> in{*t};
    g->pg->allgather(outs, in)->wait();
    result = std::move(outs[0]);
  });
  if (rc < 0) return -1;
  APT_TRY return aptlab::write_list(result, out, capacity); APT_CATCH(-1)
}

// output = reduce(inputs[rank] over ranks); inputs holds `size` tensors shaped like output. Where the backend
// has no reduce_scatter (Gloo), it is one all_reduce of the stacked inputs and this rank's slice of it.
API int apt_pg_reduce_scatter(PG g, TH output, TH* inputs, int n, int op, int* used_native) {
  return run(g, "reduce_scatter", [&] {
    if (n != g->size)
      throw std::runtime_error("needs one input per rank (" + std::to_string(g->size) + "), got " + std::to_string(n));
    auto ins = aptlab::tensors(inputs, n);
    c10d::ReduceOp rop = reduce_op(op == 1 ? 0 : op);
    if (g->backend == "gloo") {
      *used_native = 0;
      auto stacked = at::stack(ins);
      c10d::AllreduceOptions o;
      o.reduceOp = rop;
      std::vector<at::Tensor> v{stacked};
      g->pg->allreduce(v, o)->wait();
      output->copy_(stacked[g->rank]);
    } else {
      *used_native = 1;
      c10d::ReduceScatterOptions o;
      o.reduceOp = rop;
      std::vector<at::Tensor> outs{*output};
      std::vector<std::vector<at::Tensor>> in{ins};
      g->pg->reduce_scatter(outs, in, o)->wait();
    }
    if (op == 1) output->div_(g->size);
  });
}

// output (1-D, size x input.numel(), contiguous) = the inputs of all ranks concatenated in rank order, written
// in place (FSDP's parameter gather). NCCL: one _allgather_base; Gloo: allgather into views of output.
API int apt_pg_allgather_into(PG g, TH output, TH input) {
  return run(g, "all_gather_into_tensor", [&] {
    auto in = input->contiguous().reshape({-1});
    if (output->dim() != 1 || !output->is_contiguous() || output->numel() != in.numel() * g->size ||
        output->scalar_type() != in.scalar_type())
      throw std::runtime_error("output must be a contiguous 1-D " + std::string(c10::toString(in.scalar_type())) +
                               " tensor of " + std::to_string(in.numel() * g->size) + " elements");
    if (g->backend != "gloo") {
      g->pg->_allgather_base(*output, in)->wait();
      return;
    }
    auto out = as_gloo_bytes(*output);
    auto src = as_gloo_bytes(in);
    std::vector<std::vector<at::Tensor>> outs(1);
    for (int r = 0; r < g->size; r++) outs[0].push_back(out.narrow(0, r * src.numel(), src.numel()));
    std::vector<at::Tensor> ins{src};
    g->pg->allgather(outs, ins)->wait();
  });
}

// output (1-D) = reduction over ranks of their input's slice [rank n, (rank + 1) n), n = output.numel(), for a
// 1-D input of size x n elements (FSDP's gradient reduce-scatter). NCCL: one _reduce_scatter_base; Gloo (no
// reduce_scatter): one in-place all_reduce of the input, whose values are then overwritten, and this rank's slice.
API int apt_pg_reduce_scatter_flat(PG g, TH output, TH input, int op) {
  return run(g, "reduce_scatter_tensor", [&] {
    int64_t n = output->numel();
    if (input->dim() != 1 || !input->is_contiguous() || input->numel() != n * g->size ||
        input->scalar_type() != output->scalar_type())
      throw std::runtime_error("input must be a contiguous 1-D tensor of " + std::to_string(n * g->size) +
                               " elements of the output's dtype");
    c10d::ReduceOp rop = reduce_op(op == 1 ? 0 : op);
    if (g->backend == "gloo") {
      c10d::AllreduceOptions o;
      o.reduceOp = rop;
      std::vector<at::Tensor> v{*input};
      g->pg->allreduce(v, o)->wait();
      output->copy_(input->narrow(0, g->rank * n, n).view(output->sizes()));
    } else {
      c10d::ReduceScatterOptions o;
      o.reduceOp = rop;
      auto out = output->view({-1});
      g->pg->_reduce_scatter_base(out, *input, o)->wait();
    }
    if (op == 1) output->div_(g->size);
  });
}

// Gloo: a monitored barrier (rank 0 names the ranks that did not arrive within the timeout).
API int apt_pg_barrier(PG g) {
  return run(g, "barrier", [&] {
    if (g->backend == "gloo") g->pg->monitoredBarrier(c10d::BarrierOptions(), /*waitAllRanks=*/true);
    else g->pg->barrier()->wait();
  });
}

#else
// Built without c10d (no libgloo-dev headers): creating a group says so.
API const char* apt_c10d_backends() { return ""; }
API void* apt_pg_new(const char*, const char*, int, int, int, int64_t, const char*, const char*, const char*) {
  aptlab::set_error("this shim was built without c10d: install libgloo-dev and rebuild (make native)");
  return nullptr;
}
#endif

API int apt_c10d_available() {
#ifdef APTLAB_WITH_C10D
  return 1;
#else
  return 0;
#endif
}
