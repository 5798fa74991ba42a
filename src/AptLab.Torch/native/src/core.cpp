// Handles, errors, dtypes, creation, conversion, RNG and threads.
#include "common.h"
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <ATen/Parallel.h>
#include <cstring>

using namespace aptlab;

std::atomic<int64_t> aptlab::live_tensors{0};
static thread_local std::string last_error;

void aptlab::set_error(const char* message) { last_error = message ? message : "unknown error"; }

// ---- errors, versions, handles ----
API const char* apt_last_error() { return last_error.c_str(); }
API void apt_clear_error() { last_error.clear(); }
API const char* apt_torch_version() { return TORCH_VERSION; }
API int apt_cuda_available() { return at::hasCUDA() ? 1 : 0; }
API int64_t apt_live_tensors() { return live_tensors.load(); }
API void apt_free(TH t) {
  if (!t) return;
  delete t;
  live_tensors.fetch_sub(1, std::memory_order_relaxed);
}
API TH apt_alias(TH t) { RET_T(*t) }  // a second handle to the same tensor

// ---- threads ----
API void apt_set_num_threads(int n) { at::set_num_threads(n); }
API int apt_get_num_threads() { return at::get_num_threads(); }

// ---- properties ----
API int apt_dim(TH t) { return (int)t->dim(); }
API int apt_sizes(TH t, int64_t* out, int capacity) {
  int d = (int)t->dim();
  for (int i = 0; i < d && i < capacity; i++) out[i] = t->size(i);
  return d;
}
API int apt_strides(TH t, int64_t* out, int capacity) {
  int d = (int)t->dim();
  for (int i = 0; i < d && i < capacity; i++) out[i] = t->stride(i);
  return d;
}
API int64_t apt_numel(TH t) { return t->numel(); }
API int apt_dtype(TH t) { return (int)t->scalar_type(); }
API int apt_device_type(TH t) { return (int)t->device().type(); }
API int apt_device_index(TH t) { return (int)t->device().index(); }
API int apt_requires_grad(TH t) { return t->requires_grad() ? 1 : 0; }
API int apt_set_requires_grad(TH t, int on) { RET_OK(t->set_requires_grad(on != 0)) }
API int apt_is_leaf(TH t) { return t->is_leaf() ? 1 : 0; }
API int apt_is_contiguous(TH t) { return t->is_contiguous() ? 1 : 0; }
API int apt_defined(TH t) { return t->defined() ? 1 : 0; }
API int64_t apt_storage_offset(TH t) { return t->storage_offset(); }
API int64_t apt_element_size(TH t) { return (int64_t)t->element_size(); }
API void* apt_data_ptr(TH t) { return t->data_ptr(); }
API int apt_same_storage(TH a, TH b) {
  return a->storage().unsafeGetStorageImpl() == b->storage().unsafeGetStorageImpl() ? 1 : 0;
}

// ---- creation ----
// torch:: factories (not at::) so that requires_grad in the options is honoured.
#define OPTS options(dtype, dev, dev_index, requires_grad != 0)
API TH apt_empty(const int64_t* s, int n, int dtype, int dev, int dev_index, int requires_grad) {
  RET_T(torch::empty(ints(s, n), OPTS))
}
API TH apt_zeros(const int64_t* s, int n, int dtype, int dev, int dev_index, int requires_grad) {
  RET_T(torch::zeros(ints(s, n), OPTS))
}
API TH apt_ones(const int64_t* s, int n, int dtype, int dev, int dev_index, int requires_grad) {
  RET_T(torch::ones(ints(s, n), OPTS))
}
API TH apt_full(const int64_t* s, int n, double value, int is_int, int dtype, int dev, int dev_index,
                int requires_grad) {
  RET_T(torch::full(ints(s, n), scalar(value, is_int), OPTS))
}
API TH apt_arange(double start, double end, double step, int dtype, int dev, int dev_index, int requires_grad) {
  RET_T(torch::arange(start, end, step, OPTS))
}
API TH apt_linspace(double start, double end, int64_t steps, int dtype, int dev, int dev_index,
                    int requires_grad) {
  RET_T(torch::linspace(start, end, steps, OPTS))
}
API TH apt_eye(int64_t n, int64_t m, int dtype, int dev, int dev_index, int requires_grad) {
  RET_T(torch::eye(n, m, OPTS))
}
static c10::optional<at::Generator> gen(at::Generator* g) {
  return g ? c10::optional<at::Generator>(*g) : c10::nullopt;
}
// Device-safe randomness: a seeded draw is always made on the generator's own device (the CPU: AptLab's generators
// are CPU generators) and then moved to the requested device, so that a CUDA run draws exactly the numbers a CPU
// run draws (libtorch itself rejects a CPU generator for a CUDA tensor). Draws on the generator's device, and
// unseeded draws (the device's default generator), are libtorch's own, unchanged.
static bool elsewhere(at::Generator* g, const at::Device& target) { return g && g->device() != target; }
static at::Tensor moved(at::Tensor drawn, const at::TensorOptions& o) {
  auto t = drawn.to(o.device());
  if (o.requires_grad()) t.set_requires_grad(true);
  return t;
}
API TH apt_randn(const int64_t* s, int n, at::Generator* g, int dtype, int dev, int dev_index,
                 int requires_grad) {
  APT_TRY
  auto o = OPTS;
  if (elsewhere(g, o.device())) return wrap(moved(at::randn(ints(s, n), gen(g), o.device(g->device()).requires_grad(false)), o));
  return wrap(torch::randn(ints(s, n), gen(g), o));
  APT_CATCH(nullptr)
}
API TH apt_rand(const int64_t* s, int n, at::Generator* g, int dtype, int dev, int dev_index,
                int requires_grad) {
  APT_TRY
  auto o = OPTS;
  if (elsewhere(g, o.device())) return wrap(moved(at::rand(ints(s, n), gen(g), o.device(g->device()).requires_grad(false)), o));
  return wrap(torch::rand(ints(s, n), gen(g), o));
  APT_CATCH(nullptr)
}
API TH apt_randint(int64_t low, int64_t high, const int64_t* s, int n, at::Generator* g, int dtype, int dev,
                   int dev_index) {
  APT_TRY
  auto o = options(dtype, dev, dev_index);
  if (elsewhere(g, o.device())) return wrap(moved(at::randint(low, high, ints(s, n), gen(g), o.device(g->device())), o));
  return wrap(at::randint(low, high, ints(s, n), gen(g), o));
  APT_CATCH(nullptr)
}
API TH apt_randperm(int64_t n, at::Generator* g, int dev, int dev_index) {
  APT_TRY
  auto o = options((int)at::kLong, dev, dev_index);
  if (elsewhere(g, o.device())) return wrap(moved(at::randperm(n, gen(g), o.device(g->device())), o));
  return wrap(at::randperm(n, gen(g), o));
  APT_CATCH(nullptr)
}
API TH apt_empty_like(TH t) { RET_T(at::empty_like(*t)) }
API TH apt_zeros_like(TH t) { RET_T(at::zeros_like(*t)) }
API TH apt_ones_like(TH t) { RET_T(at::ones_like(*t)) }
API TH apt_full_like(TH t, double v, int is_int) { RET_T(at::full_like(*t, scalar(v, is_int))) }
API TH apt_randn_like(TH t, at::Generator* g) {
  APT_TRY
  auto o = t->options().requires_grad(false);
  if (elsewhere(g, o.device())) return wrap(moved(at::randn(t->sizes(), gen(g), o.device(g->device())), o));
  return wrap(at::randn(t->sizes(), gen(g), o));
  APT_CATCH(nullptr)
}
API TH apt_rand_like(TH t, at::Generator* g) {
  APT_TRY
  auto o = t->options().requires_grad(false);
  if (elsewhere(g, o.device())) return wrap(moved(at::rand(t->sizes(), gen(g), o.device(g->device())), o));
  return wrap(at::rand(t->sizes(), gen(g), o));
  APT_CATCH(nullptr)
}
// In-place random fills (used by initialisers). Elsewhere than on the generator's device: filled there (as a
// contiguous tensor of the same shape and dtype) and copied in.
template <typename F>
static void fill(TH t, at::Generator* g, F&& draw) {
  if (!elsewhere(g, t->device())) { draw(*t); return; }
  auto tmp = at::empty(t->sizes(), t->options().device(g->device()).requires_grad(false));
  draw(tmp);
  t->copy_(tmp);
}
API int apt_uniform_(TH t, double a, double b, at::Generator* g) {
  RET_OK(fill(t, g, [&](at::Tensor& x) { x.uniform_(a, b, gen(g)); }))
}
API int apt_normal_(TH t, double mean, double std, at::Generator* g) {
  RET_OK(fill(t, g, [&](at::Tensor& x) { x.normal_(mean, std, gen(g)); }))
}
API int apt_bernoulli_(TH t, double p, at::Generator* g) {
  RET_OK(fill(t, g, [&](at::Tensor& x) { x.bernoulli_(p, gen(g)); }))
}

// A tensor holding a copy of `nbytes` bytes at `data` (the caller's memory is not retained).
API TH apt_from_data(const void* data, const int64_t* s, int n, int dtype) {
  APT_TRY
  auto t = at::empty(ints(s, n), at::TensorOptions().dtype((at::ScalarType)dtype));
  size_t nbytes = (size_t)t.numel() * t.element_size();
  if (nbytes) std::memcpy(t.data_ptr(), data, nbytes);
  return wrap(std::move(t));
  APT_CATCH(nullptr)
}
// Copies a tensor's elements (any device, any layout) into caller memory of `nbytes` bytes.
API int apt_copy_to(TH t, void* data, int64_t nbytes) {
  APT_TRY
  at::NoGradGuard no_grad;
  auto c = t->detach().to(at::kCPU).contiguous();
  int64_t need = c.numel() * (int64_t)c.element_size();
  if (need != nbytes)
    throw std::runtime_error("copy_to: tensor has " + std::to_string(need) + " bytes, buffer " +
                             std::to_string(nbytes));
  if (need) std::memcpy(data, c.data_ptr(), (size_t)need);
  return 0;
  APT_CATCH(-1)
}
API int apt_item_double(TH t, double* out) { RET_OK(*out = t->item<double>()) }
API int apt_item_int64(TH t, int64_t* out) { RET_OK(*out = t->item<int64_t>()) }

// ---- conversion ----
API TH apt_to_dtype(TH t, int dtype) { RET_T(t->to((at::ScalarType)dtype)) }
API TH apt_to_device(TH t, int dev, int dev_index) {
  RET_T(t->to(at::Device((c10::DeviceType)dev, (c10::DeviceIndex)dev_index)))
}
API TH apt_to(TH t, int dtype, int dev, int dev_index) {
  RET_T(t->to(at::Device((c10::DeviceType)dev, (c10::DeviceIndex)dev_index), (at::ScalarType)dtype))
}
API TH apt_contiguous(TH t) { RET_T(t->contiguous()) }
API TH apt_clone(TH t) { RET_T(t->clone()) }
API TH apt_detach(TH t) { RET_T(t->detach()) }
API int apt_detach_(TH t) { RET_OK(t->detach_()) }
API int apt_copy_(TH dst, TH src) { RET_OK(dst->copy_(*src)) }
API int apt_set_data(TH dst, TH src) { RET_OK(dst->set_data(*src)) }
// set_data across tensor types (a parameter built on the meta device receiving CPU or CUDA storage): the tensor's
// metadata, storage and device are replaced, keeping its identity and autograd state. Only for leaves that have not
// been used in autograd yet (their gradient accumulator, if any, would still expect the old device).
API int apt_set_data_any_device(TH dst, TH src) {
  RET_OK(dst->unsafeGetTensorImpl()->shallow_copy_from(src->getIntrusivePtr()))
}

// ---- RNG ----
API void apt_manual_seed(uint64_t seed) { at::manual_seed(seed); }
API at::Generator* apt_generator_new(uint64_t seed) {
  APT_TRY
  auto g = new at::Generator(at::detail::createCPUGenerator(seed));
  return g;
  APT_CATCH(nullptr)
}
API void apt_generator_free(at::Generator* g) { delete g; }
API int apt_generator_seed(at::Generator* g, uint64_t seed) {
  RET_OK(std::lock_guard<std::mutex> lock(g->mutex()); g->set_current_seed(seed))
}
API at::Generator* apt_default_generator() { return new at::Generator(at::detail::getDefaultCPUGenerator()); }
API TH apt_generator_get_state(at::Generator* g) {
  APT_TRY
  std::lock_guard<std::mutex> lock(g->mutex());
  return wrap(g->get_state());
  APT_CATCH(nullptr)
}
API int apt_generator_set_state(at::Generator* g, TH state) {
  RET_OK(std::lock_guard<std::mutex> lock(g->mutex()); g->set_state(*state))
}
