// Autograd: backward, .grad, autograd.grad, grad mode and activation checkpointing.
#include "common.h"
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <ATen/CPUGeneratorImpl.h>

using namespace aptlab;
using torch::autograd::variable_list;

API int apt_backward(TH t, TH grad, int retain_graph, int create_graph) {
  RET_OK(t->backward(grad ? *grad : at::Tensor(), retain_graph ? c10::optional<bool>(true) : c10::nullopt,
                     create_graph != 0))
}
// Writes a new handle to t.grad, or nullptr when t has no gradient.
API int apt_grad(TH t, TH* out) {
  APT_TRY
  const auto& g = t->grad();
  *out = g.defined() ? wrap(g) : nullptr;
  return 0;
  APT_CATCH(-1)
}
API int apt_set_grad(TH t, TH g) { RET_OK(t->mutable_grad() = g ? *g : at::Tensor()) }
API int apt_retain_grad(TH t) { RET_OK(t->retain_grad()) }


// torch.autograd.grad(outputs, inputs, grad_outputs): writes one handle per input (nullptr if unused).
API int apt_autograd_grad(TH* outputs, int n_out, TH* inputs, int n_in, TH* grad_outputs, int retain_graph,
                          int create_graph, int allow_unused, TH* result) {
  APT_TRY
  variable_list outs = tensors(outputs, n_out), ins = tensors(inputs, n_in), gos;
  for (int i = 0; i < n_out; i++) gos.push_back(grad_outputs && grad_outputs[i] ? *grad_outputs[i] : at::Tensor());
  auto grads = torch::autograd::grad(outs, ins, gos,
                                     retain_graph ? c10::optional<bool>(true) : c10::optional<bool>(create_graph != 0),
                                     create_graph != 0, allow_unused != 0);
  for (int i = 0; i < n_in; i++) result[i] = grads[i].defined() ? wrap(grads[i]) : nullptr;
  return 0;
  APT_CATCH(-1)
}

API int apt_is_grad_enabled() { return at::GradMode::is_enabled() ? 1 : 0; }
API void apt_set_grad_enabled(int on) { at::GradMode::set_enabled(on != 0); }

// ---- activation checkpointing ----
// The managed side registers three callbacks. `run` runs the checkpointed function `fn_id` on `inputs` (the
// forward when `recompute` is 0, the recomputation in backward when 1) and writes up to `capacity` output
// handles whose ownership passes to the caller; it returns their count or -1 (the managed exception's message
// is then in apt_last_error via apt_set_error_message). `done` follows the backward through a recomputation (the
// parameters' .grad now hold this block's contribution: a sharded trainer reduce-scatters and frees them there);
// it returns 0 or -1. `release` frees the managed function when its autograd node is destroyed.
typedef int (*checkpoint_callback)(int64_t fn_id, int recompute, TH* inputs, int n_in, TH* outputs, int capacity);
typedef int (*done_callback)(int64_t fn_id);
typedef void (*release_callback)(int64_t fn_id);
static checkpoint_callback g_checkpoint_callback = nullptr;
static done_callback g_done_callback = nullptr;
static release_callback g_release_callback = nullptr;
API void apt_set_checkpoint_callbacks(checkpoint_callback run, done_callback done, release_callback release) {
  g_checkpoint_callback = run;
  g_done_callback = done;
  g_release_callback = release;
}
API void apt_set_error_message(const char* message) { set_error(message); }

extern "C" const char* apt_last_error();
static variable_list run_callback(int64_t fn_id, bool recompute, const variable_list& inputs) {
  std::vector<TH> in;
  for (auto& t : inputs) in.push_back(wrap(t));
  std::vector<TH> out(64, nullptr);
  int n = g_checkpoint_callback(fn_id, recompute ? 1 : 0, in.data(), (int)in.size(), out.data(), (int)out.size());
  for (auto h : in) { delete h; live_tensors--; }
  if (n < 0) throw std::runtime_error(std::string("checkpointed function failed: ") + apt_last_error());
  variable_list result;
  for (int i = 0; i < n; i++) { result.push_back(*out[i]); delete out[i]; live_tensors--; }
  return result;
}

// Restores the default CPU generator's state when it goes out of scope (also if the recomputation throws).
struct RngStateGuard {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  at::Tensor saved = gen.get_state();
  ~RngStateGuard() { gen.set_state(saved); }
};

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  // `inputs` must be a TensorList: autograd only records list elements as inputs for that type (a
  // std::vector argument is treated as a non-tensor, which left the outputs without a grad_fn).
  static variable_list forward(torch::autograd::AutogradContext* ctx, int64_t fn_id, at::Tensor owner,
                               at::TensorList inputs) {
    ctx->saved_data["fn_id"] = fn_id;
    ctx->saved_data["owner"] = owner;  // releases the managed function when this node is destroyed
    // Keep the CPU RNG state so that dropout inside the block draws the same numbers when recomputed.
    ctx->saved_data["rng"] = at::detail::getDefaultCPUGenerator().get_state();
    ctx->save_for_backward(inputs.vec());
    return run_callback(fn_id, false, inputs.vec());  // grad mode is off here: no activations are kept
  }
  static variable_list backward(torch::autograd::AutogradContext* ctx, variable_list grad_outputs) {
    int64_t fn_id = ctx->saved_data["fn_id"].toInt();
    auto saved = ctx->get_saved_variables();
    variable_list inputs;
    for (auto& t : saved) {
      auto d = t.detach();
      d.set_requires_grad(t.requires_grad());
      inputs.push_back(d);
    }
    variable_list outputs;
    {
      RngStateGuard restore_after;  // the RNG stream continues as if the block had run once
      restore_after.gen.set_state(ctx->saved_data["rng"].toTensor());
      at::AutoGradMode enable(true);
      outputs = run_callback(fn_id, true, inputs);
    }
    variable_list outs, gos;
    for (size_t i = 0; i < outputs.size(); i++)
      if (outputs[i].requires_grad() && grad_outputs[i].defined()) { outs.push_back(outputs[i]); gos.push_back(grad_outputs[i]); }
    if (!outs.empty()) torch::autograd::backward(outs, gos);  // accumulates into parameters' .grad
    variable_list result;
    result.push_back(at::Tensor());  // fn_id (not a tensor: must stay undefined)
    result.push_back(at::Tensor());  // owner
    for (auto& t : inputs) result.push_back(t.requires_grad() ? t.grad() : at::Tensor());
    outputs.clear();  // the recomputation's graph goes before `done` frees what it held
    outs.clear();
    if (g_done_callback(fn_id) < 0)
      throw std::runtime_error(std::string("after the backward of a checkpointed function: ") + apt_last_error());
    return result;
  }
};

API int apt_checkpoint(int64_t fn_id, TH* inputs, int n_in, TH* outputs, int capacity) {
  APT_TRY
  if (!g_checkpoint_callback || !g_done_callback || !g_release_callback) throw std::runtime_error("checkpoint callbacks not registered");
  // A zero-element tensor whose deleter hands fn_id back to the managed side: the managed delegate then
  // lives exactly as long as something (this call, or the autograd node) may still run it.
  auto owner = at::from_blob(reinterpret_cast<void*>(fn_id), {0},
                             [](void* p) { g_release_callback(reinterpret_cast<int64_t>(p)); },
                             at::TensorOptions().dtype(at::kFloat));
  // The owner requires grad whenever grad mode is on, so the node joins the graph even when no input requires
  // grad: the block's parameters, captured by the managed function, must still receive gradients (a block fed
  // with data, or the first block of a frozen trunk). Its own gradient is always undefined.
  if (at::GradMode::is_enabled()) owner.set_requires_grad(true);
  std::vector<at::Tensor> ins = tensors(inputs, n_in);
  auto outs = CheckpointFunction::apply(fn_id, owner, at::TensorList(ins));
  return write_list(outs, outputs, capacity);
  APT_CATCH(-1)
}
