// Functional layers: linear, convolutions, normalisations, attention, resampling, losses.
#include "common.h"

using namespace aptlab;

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define APTLAB_HAS_SDPA 1
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define APTLAB_HAS_RMS_NORM 1
#endif

API int apt_has_native_sdpa() {
#ifdef APTLAB_HAS_SDPA
  return 1;
#else
  return 0;
#endif
}

API TH apt_linear(TH x, TH w, TH b) { RET_T(at::linear(*x, *w, opt(b))) }

// conv{1,2,3}d chosen by the weight's rank; stride/padding/dilation have one entry per spatial dim.
API TH apt_conv(TH x, TH w, TH b, const int64_t* stride, const int64_t* padding, const int64_t* dilation,
                int nd, int64_t groups) {
  APT_TRY
  auto s = ints(stride, nd), p = ints(padding, nd), d = ints(dilation, nd);
  switch (nd) {
    case 1: return wrap(at::conv1d(*x, *w, opt(b), s, p, d, groups));
    case 2: return wrap(at::conv2d(*x, *w, opt(b), s, p, d, groups));
    case 3: return wrap(at::conv3d(*x, *w, opt(b), s, p, d, groups));
  }
  throw std::runtime_error("conv: 1, 2 or 3 spatial dims expected");
  APT_CATCH(nullptr)
}
API TH apt_conv_transpose(TH x, TH w, TH b, const int64_t* stride, const int64_t* padding,
                          const int64_t* output_padding, const int64_t* dilation, int nd, int64_t groups) {
  APT_TRY
  auto s = ints(stride, nd), p = ints(padding, nd), op = ints(output_padding, nd), d = ints(dilation, nd);
  switch (nd) {
    case 1: return wrap(at::conv_transpose1d(*x, *w, opt(b), s, p, op, groups, d));
    case 2: return wrap(at::conv_transpose2d(*x, *w, opt(b), s, p, op, groups, d));
    case 3: return wrap(at::conv_transpose3d(*x, *w, opt(b), s, p, op, groups, d));
  }
  throw std::runtime_error("conv_transpose: 1, 2 or 3 spatial dims expected");
  APT_CATCH(nullptr)
}

API TH apt_layer_norm(TH x, const int64_t* shape, int n, TH w, TH b, double eps) {
  RET_T(at::layer_norm(*x, ints(shape, n), opt(w), opt(b), eps))
}
API TH apt_group_norm(TH x, int64_t groups, TH w, TH b, double eps) {
  RET_T(at::group_norm(*x, groups, opt(w), opt(b), eps))
}
// RMSNorm over the trailing `n` dims: x * rsqrt(mean(x^2) + eps) * w (composite before libtorch 2.4).
API TH apt_rms_norm(TH x, const int64_t* shape, int n, TH w, double eps) {
  APT_TRY
#ifdef APTLAB_HAS_RMS_NORM
  return wrap(at::rms_norm(*x, ints(shape, n), opt(w), eps));
#else
  std::vector<int64_t> dims;
  for (int i = 0; i < n; i++) dims.push_back(-1 - i);
  auto y = *x * at::rsqrt(x->pow(2).mean(dims, true) + eps);
  return wrap(w ? y * *w : y);
#endif
  APT_CATCH(nullptr)
}
API TH apt_softmax(TH x, int64_t dim, int dtype) {
  RET_T(dtype < 0 ? at::softmax(*x, dim) : at::softmax(*x, dim, (at::ScalarType)dtype))
}
API TH apt_log_softmax(TH x, int64_t dim, int dtype) {
  RET_T(dtype < 0 ? at::log_softmax(*x, dim) : at::log_softmax(*x, dim, (at::ScalarType)dtype))
}
API TH apt_dropout(TH x, double p, int train) { RET_T(at::dropout(*x, p, train != 0)) }
API TH apt_embedding(TH w, TH idx) { RET_T(at::embedding(*w, *idx)) }
API TH apt_weight_norm(TH v, TH g, int64_t dim) { RET_T(at::_weight_norm(*v, *g, dim)) }

// Attention: q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv]; mask broadcastable to [B, H, Lq, Lk],
// boolean (true = attend) or additive float; scale <= 0 means 1/sqrt(D).
API TH apt_attention(TH q, TH k, TH v, TH mask, int is_causal, double scale, double dropout_p) {
  APT_TRY
#ifdef APTLAB_HAS_SDPA
  return wrap(at::scaled_dot_product_attention(*q, *k, *v, opt(mask), dropout_p, is_causal != 0,
                                               scale > 0 ? c10::optional<double>(scale) : c10::nullopt));
#else
  double sc = scale > 0 ? scale : 1.0 / std::sqrt((double)q->size(-1));
  auto scores = at::matmul(*q, k->transpose(-2, -1)) * sc;  // [B, H, Lq, Lk]
  if (is_causal) {
    auto keep = at::ones({q->size(-2), k->size(-2)}, q->options().dtype(at::kBool)).tril();
    scores = scores.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
  }
  if (mask) {
    if (mask->scalar_type() == at::kBool)
      scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<double>::infinity());
    else
      scores = scores + *mask;
  }
  auto p = at::softmax(scores, -1);
  if (dropout_p > 0) p = at::dropout(p, dropout_p, true);
  return wrap(at::matmul(p, *v));
#endif
  APT_CATCH(nullptr)
}

// F.interpolate. mode: 0 nearest, 1 linear (3D input), 2 bilinear (4D), 3 trilinear (5D), 4 bicubic,
// 5 nearest-exact. Either `size` (n entries) or `scales` (n entries) is given.
API TH apt_interpolate(TH x, const int64_t* size, const double* scales, int n, int mode, int align_corners) {
  APT_TRY
  at::OptionalIntArrayRef out = size ? at::OptionalIntArrayRef(ints(size, n)) : c10::nullopt;
  c10::optional<at::ArrayRef<double>> sf =
      scales ? c10::optional<at::ArrayRef<double>>(at::ArrayRef<double>(scales, n)) : c10::nullopt;
  bool ac = align_corners != 0;
  switch (mode) {
    case 0:
      if (n == 1) return wrap(at::upsample_nearest1d(*x, out, sf));
      if (n == 2) return wrap(at::upsample_nearest2d(*x, out, sf));
      return wrap(at::upsample_nearest3d(*x, out, sf));
    case 1: return wrap(at::upsample_linear1d(*x, out, ac, sf));
    case 2: return wrap(at::upsample_bilinear2d(*x, out, ac, sf));
    case 3: return wrap(at::upsample_trilinear3d(*x, out, ac, sf));
    case 4: return wrap(at::upsample_bicubic2d(*x, out, ac, sf));
    case 5:
      if (n == 1) return wrap(at::_upsample_nearest_exact1d(*x, out, sf));
      if (n == 2) return wrap(at::_upsample_nearest_exact2d(*x, out, sf));
      return wrap(at::_upsample_nearest_exact3d(*x, out, sf));
  }
  throw std::runtime_error("interpolate: unknown mode");
  APT_CATCH(nullptr)
}

API TH apt_avg_pool2d(TH x, const int64_t* k, const int64_t* s, const int64_t* p) {
  RET_T(at::avg_pool2d(*x, ints(k, 2), ints(s, 2), ints(p, 2)))
}
API TH apt_max_pool2d(TH x, const int64_t* k, const int64_t* s, const int64_t* p) {
  RET_T(at::max_pool2d(*x, ints(k, 2), ints(s, 2), ints(p, 2)))
}
API TH apt_adaptive_avg_pool2d(TH x, int64_t h, int64_t w) { RET_T(at::adaptive_avg_pool2d(*x, {h, w})) }

// Pooling over nd = 1, 2 or 3 spatial dims (chosen by nd); k, s, p have nd entries each. avg: count_include_pad = 0
// divides a border window by its number of real elements (TF's "SAME" average pool).
API TH apt_max_pool(TH x, const int64_t* k, const int64_t* s, const int64_t* p, int nd, int ceil_mode) {
  APT_TRY
  auto kk = ints(k, nd), ss = ints(s, nd), pp = ints(p, nd);
  std::vector<int64_t> dil((size_t)nd, 1);
  bool c = ceil_mode != 0;
  switch (nd) {
    case 1: return wrap(at::max_pool1d(*x, kk, ss, pp, dil, c));
    case 2: return wrap(at::max_pool2d(*x, kk, ss, pp, dil, c));
    case 3: return wrap(at::max_pool3d(*x, kk, ss, pp, dil, c));
  }
  throw std::runtime_error("max_pool: 1, 2 or 3 spatial dims expected");
  APT_CATCH(nullptr)
}
API TH apt_avg_pool(TH x, const int64_t* k, const int64_t* s, const int64_t* p, int nd, int ceil_mode,
                    int count_include_pad) {
  APT_TRY
  auto kk = ints(k, nd), ss = ints(s, nd), pp = ints(p, nd);
  bool c = ceil_mode != 0, inc = count_include_pad != 0;
  switch (nd) {
    case 1: return wrap(at::avg_pool1d(*x, kk, ss, pp, c, inc));
    case 2: return wrap(at::avg_pool2d(*x, kk, ss, pp, c, inc));
    case 3: return wrap(at::avg_pool3d(*x, kk, ss, pp, c, inc));
  }
  throw std::runtime_error("avg_pool: 1, 2 or 3 spatial dims expected");
  APT_CATCH(nullptr)
}

// F.batch_norm over dim 1 of x [N, C, *]: running statistics (training = 0) or batch statistics, updating the
// running buffers in place with `momentum` when training and they are given.
API TH apt_batch_norm(TH x, TH running_mean, TH running_var, TH w, TH b, int training, double momentum, double eps) {
  RET_T(at::batch_norm(*x, opt(w), opt(b), opt(running_mean), opt(running_var), training != 0, momentum, eps,
                       at::globalContext().userEnabledCuDNN()))
}

// Losses; reduction 0 none, 1 mean, 2 sum (at::Reduction).
API TH apt_mse_loss(TH a, TH b, int reduction) { RET_T(at::mse_loss(*a, *b, reduction)) }
API TH apt_l1_loss(TH a, TH b, int reduction) { RET_T(at::l1_loss(*a, *b, reduction)) }
API TH apt_cross_entropy(TH logits, TH target, TH weight, int reduction, int64_t ignore_index,
                         double label_smoothing) {
  RET_T(at::cross_entropy_loss(*logits, *target, opt(weight), reduction, ignore_index, label_smoothing))
}
API TH apt_bce_with_logits(TH logits, TH target, int reduction) {
  RET_T(at::binary_cross_entropy_with_logits(*logits, *target, c10::nullopt, c10::nullopt, reduction))
}
