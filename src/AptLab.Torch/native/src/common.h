// Shared by every translation unit of the shim: handle ownership, error passing, argument helpers.
//
// Conventions of the C ABI:
//  * A tensor crosses the boundary as an owned `at::Tensor*` (TH). Every function that returns a TH returns a
//    new handle the caller must release with apt_free; functions never take ownership of their arguments.
//  * Nothing throws across the boundary. On failure a TH-returning function returns nullptr and an
//    int-returning one returns -1; apt_last_error() then holds the message (thread-local).
//  * Optional tensor arguments are nullptr when absent. Int lists are (const int64_t*, int n).
#pragma once
#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/version.h>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#define API extern "C" __attribute__((visibility("default")))

typedef at::Tensor* TH;

namespace aptlab {
extern std::atomic<int64_t> live_tensors;
void set_error(const char* message);

inline TH wrap(at::Tensor t) {
  live_tensors.fetch_add(1, std::memory_order_relaxed);
  return new at::Tensor(std::move(t));
}

inline at::IntArrayRef ints(const int64_t* p, int n) { return at::IntArrayRef(p, (size_t)n); }

inline c10::optional<at::Tensor> opt(TH t) {
  return t ? c10::optional<at::Tensor>(*t) : c10::nullopt;
}

inline std::vector<at::Tensor> tensors(TH* list, int n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; i++) v.push_back(*list[i]);
  return v;
}

inline at::Scalar scalar(double value, int is_int) {
  return is_int ? at::Scalar((int64_t)value) : at::Scalar(value);
}

inline at::TensorOptions options(int dtype, int device_type, int device_index, bool requires_grad = false) {
  return at::TensorOptions()
      .dtype((at::ScalarType)dtype)
      .device(at::Device((c10::DeviceType)device_type, (c10::DeviceIndex)device_index))
      .requires_grad(requires_grad);
}

// Writes a list of tensors to a caller buffer; fails if it does not fit.
inline int write_list(const std::vector<at::Tensor>& v, TH* out, int capacity) {
  if ((int)v.size() > capacity)
    throw std::runtime_error("result has " + std::to_string(v.size()) + " tensors, buffer holds " +
                             std::to_string(capacity));
  for (size_t i = 0; i < v.size(); i++) out[i] = wrap(v[i]);
  return (int)v.size();
}
}  // namespace aptlab

#define APT_TRY try {
#define APT_CATCH(fail)                                         \
  }                                                             \
  catch (const c10::Error& e) {                                 \
    aptlab::set_error(e.what_without_backtrace());              \
    return fail;                                                \
  }                                                             \
  catch (const std::exception& e) {                             \
    aptlab::set_error(e.what());                                \
    return fail;                                                \
  }

// Body of a function returning a new tensor handle.
#define RET_T(expr) APT_TRY return aptlab::wrap(expr); APT_CATCH(nullptr)
// Body of a function returning 0 on success, -1 on failure.
#define RET_OK(stmt) APT_TRY stmt; return 0; APT_CATCH(-1)
