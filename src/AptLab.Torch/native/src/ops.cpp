// Elementwise math, comparisons, reductions and matrix products.
#include "common.h"

using namespace aptlab;

// ---- unary ----
#define UNARY(name, expr) \
  API TH apt_##name(TH a) { RET_T(expr) }
UNARY(neg, at::neg(*a))
UNARY(abs, at::abs(*a))
UNARY(exp, at::exp(*a))
UNARY(log, at::log(*a))
UNARY(log1p, at::log1p(*a))
UNARY(expm1, at::expm1(*a))
UNARY(sqrt, at::sqrt(*a))
UNARY(rsqrt, at::rsqrt(*a))
UNARY(sin, at::sin(*a))
UNARY(cos, at::cos(*a))
UNARY(tanh, at::tanh(*a))
UNARY(sigmoid, at::sigmoid(*a))
UNARY(relu, at::relu(*a))
UNARY(silu, at::silu(*a))
UNARY(erf, at::erf(*a))
UNARY(floor, at::floor(*a))
UNARY(ceil, at::ceil(*a))
UNARY(round, at::round(*a))
UNARY(sign, at::sign(*a))
UNARY(reciprocal, at::reciprocal(*a))
UNARY(square, at::square(*a))
UNARY(logical_not, at::logical_not(*a))
UNARY(isnan, at::isnan(*a))
UNARY(isfinite, at::isfinite(*a))
UNARY(log_sigmoid, at::log_sigmoid(*a))
UNARY(real, at::real(*a))
UNARY(imag, at::imag(*a))
UNARY(view_as_real, at::view_as_real(*a))
UNARY(view_as_complex, at::view_as_complex(*a))
UNARY(conj, at::conj(*a))

API TH apt_gelu(TH a, int tanh_approx) { RET_T(at::gelu(*a, tanh_approx ? "tanh" : "none")) }
API TH apt_softplus(TH a, double beta, double threshold) { RET_T(at::softplus(*a, beta, threshold)) }
API TH apt_leaky_relu(TH a, double slope) { RET_T(at::leaky_relu(*a, slope)) }
API TH apt_clamp(TH a, double lo, int has_lo, double hi, int has_hi) {
  RET_T(at::clamp(*a, has_lo ? c10::optional<at::Scalar>(lo) : c10::nullopt,
                  has_hi ? c10::optional<at::Scalar>(hi) : c10::nullopt))
}
API int apt_clamp_(TH a, double lo, int has_lo, double hi, int has_hi) {
  RET_OK(at::clamp_(*a, has_lo ? c10::optional<at::Scalar>(lo) : c10::nullopt,
                    has_hi ? c10::optional<at::Scalar>(hi) : c10::nullopt))
}
API TH apt_polar(TH abs, TH angle) { RET_T(at::polar(*abs, *angle)) }
API TH apt_complex(TH re, TH im) { RET_T(at::complex(*re, *im)) }

// ---- binary, tensor with tensor ----
#define BINARY(name, expr) \
  API TH apt_##name(TH a, TH b) { RET_T(expr) }
BINARY(mul, at::mul(*a, *b))
BINARY(div, at::div(*a, *b))
BINARY(pow, at::pow(*a, *b))
BINARY(maximum, at::maximum(*a, *b))
BINARY(minimum, at::minimum(*a, *b))
BINARY(eq, at::eq(*a, *b))
BINARY(ne, at::ne(*a, *b))
BINARY(lt, at::lt(*a, *b))
BINARY(le, at::le(*a, *b))
BINARY(gt, at::gt(*a, *b))
BINARY(ge, at::ge(*a, *b))
BINARY(logical_and, at::logical_and(*a, *b))
BINARY(logical_or, at::logical_or(*a, *b))
BINARY(atan2, at::atan2(*a, *b))
BINARY(remainder, at::remainder(*a, *b))
BINARY(floor_divide, at::floor_divide(*a, *b))
BINARY(matmul, at::matmul(*a, *b))
BINARY(mm, at::mm(*a, *b))
BINARY(bmm, at::bmm(*a, *b))
BINARY(outer, at::outer(*a, *b))
// alpha as an integer when whole-valued: libtorch refuses a floating alpha for integer tensors.
static at::Scalar alpha_scalar(double alpha) {
  return alpha == std::floor(alpha) ? at::Scalar((int64_t)alpha) : at::Scalar(alpha);
}
API TH apt_add(TH a, TH b, double alpha) { RET_T(at::add(*a, *b, alpha_scalar(alpha))) }
API TH apt_sub(TH a, TH b, double alpha) { RET_T(at::sub(*a, *b, alpha_scalar(alpha))) }
API TH apt_baddbmm(TH self, TH a, TH b, double beta, double alpha) { RET_T(at::baddbmm(*self, *a, *b, beta, alpha)) }
API TH apt_addmm(TH self, TH a, TH b, double beta, double alpha) { RET_T(at::addmm(*self, *a, *b, beta, alpha)) }
API TH apt_lerp(TH a, TH b, double w) { RET_T(at::lerp(*a, *b, w)) }
API TH apt_where(TH cond, TH a, TH b) { RET_T(at::where(*cond, *a, *b)) }
API TH apt_einsum(const char* equation, TH* list, int n) { RET_T(at::einsum(equation, tensors(list, n))) }

// ---- binary, tensor with scalar ----
#define BINARY_S(name, expr) \
  API TH apt_##name##_s(TH a, double v, int is_int) { auto s = scalar(v, is_int); RET_T(expr) }
BINARY_S(add, at::add(*a, s))
BINARY_S(sub, at::sub(*a, s))
BINARY_S(rsub, at::rsub(*a, s))
BINARY_S(mul, at::mul(*a, s))
BINARY_S(div, at::div(*a, s))
BINARY_S(pow, at::pow(*a, s))
BINARY_S(eq, at::eq(*a, s))
BINARY_S(ne, at::ne(*a, s))
BINARY_S(lt, at::lt(*a, s))
BINARY_S(le, at::le(*a, s))
BINARY_S(gt, at::gt(*a, s))
BINARY_S(ge, at::ge(*a, s))
BINARY_S(remainder, at::remainder(*a, s))
API TH apt_rpow_s(TH a, double v) { RET_T(at::pow(at::Scalar(v), *a)) }
API TH apt_rdiv_s(TH a, double v) { RET_T(at::mul(at::reciprocal(*a), v)) }
API TH apt_where_s(TH cond, TH a, double v) { RET_T(at::where(*cond, *a, at::Scalar(v))) }

// ---- in place ----
API int apt_add_(TH a, TH b, double alpha) { RET_OK(a->add_(*b, alpha_scalar(alpha))) }
API int apt_sub_(TH a, TH b, double alpha) { RET_OK(a->sub_(*b, alpha_scalar(alpha))) }
API int apt_mul_(TH a, TH b) { RET_OK(a->mul_(*b)) }
API int apt_div_(TH a, TH b) { RET_OK(a->div_(*b)) }
API int apt_add_s_(TH a, double v) { RET_OK(a->add_(v)) }
API int apt_mul_s_(TH a, double v) { RET_OK(a->mul_(v)) }
API int apt_div_s_(TH a, double v) { RET_OK(a->div_(v)) }
API int apt_addcmul_(TH a, TH t1, TH t2, double value) { RET_OK(a->addcmul_(*t1, *t2, value)) }
API int apt_addcdiv_(TH a, TH t1, TH t2, double value) { RET_OK(a->addcdiv_(*t1, *t2, value)) }
API int apt_lerp_(TH a, TH end, double weight) { RET_OK(a->lerp_(*end, weight)) }
API int apt_zero_(TH a) { RET_OK(a->zero_()) }
API int apt_fill_(TH a, double v) { RET_OK(a->fill_(v)) }
API int apt_sqrt_(TH a) { RET_OK(a->sqrt_()) }
API int apt_masked_fill_(TH a, TH mask, double v) { RET_OK(a->masked_fill_(*mask, v)) }

// ---- reductions ----
static c10::optional<at::ScalarType> opt_dtype(int dtype) {
  return dtype < 0 ? c10::nullopt : c10::optional<at::ScalarType>((at::ScalarType)dtype);
}
API TH apt_sum(TH a, const int64_t* dims, int n, int keepdim, int dtype) {
  RET_T(n == 0 ? at::sum(*a, opt_dtype(dtype)) : at::sum(*a, ints(dims, n), keepdim != 0, opt_dtype(dtype)))
}
API TH apt_mean(TH a, const int64_t* dims, int n, int keepdim, int dtype) {
  RET_T(n == 0 ? at::mean(*a, opt_dtype(dtype)) : at::mean(*a, ints(dims, n), keepdim != 0, opt_dtype(dtype)))
}
API TH apt_prod(TH a, int64_t dim, int has_dim, int keepdim) {
  RET_T(has_dim ? at::prod(*a, dim, keepdim != 0) : at::prod(*a))
}
// var/std with Bessel correction `correction` (1 = unbiased, 0 = population); n == 0 reduces all dims.
API TH apt_var(TH a, const int64_t* dims, int n, int64_t correction, int keepdim) {
  RET_T(at::var(*a, n == 0 ? at::OptionalIntArrayRef() : at::OptionalIntArrayRef(ints(dims, n)),
                c10::optional<int64_t>(correction), keepdim != 0))
}
API TH apt_std(TH a, const int64_t* dims, int n, int64_t correction, int keepdim) {
  RET_T(at::std(*a, n == 0 ? at::OptionalIntArrayRef() : at::OptionalIntArrayRef(ints(dims, n)),
                c10::optional<int64_t>(correction), keepdim != 0))
}
API TH apt_amax(TH a, const int64_t* dims, int n, int keepdim) { RET_T(at::amax(*a, ints(dims, n), keepdim != 0)) }
API TH apt_amin(TH a, const int64_t* dims, int n, int keepdim) { RET_T(at::amin(*a, ints(dims, n), keepdim != 0)) }
API TH apt_max_all(TH a) { RET_T(at::max(*a)) }
API TH apt_min_all(TH a) { RET_T(at::min(*a)) }
// max/min along a dim: values and indices.
API int apt_max_dim(TH a, int64_t dim, int keepdim, TH* values, TH* indices) {
  APT_TRY auto r = at::max(*a, dim, keepdim != 0);
  *values = wrap(std::get<0>(r)); *indices = wrap(std::get<1>(r)); return 0; APT_CATCH(-1)
}
API int apt_min_dim(TH a, int64_t dim, int keepdim, TH* values, TH* indices) {
  APT_TRY auto r = at::min(*a, dim, keepdim != 0);
  *values = wrap(std::get<0>(r)); *indices = wrap(std::get<1>(r)); return 0; APT_CATCH(-1)
}
API int apt_sort(TH a, int64_t dim, int descending, TH* values, TH* indices) {
  APT_TRY auto r = at::sort(*a, dim, descending != 0);
  *values = wrap(std::get<0>(r)); *indices = wrap(std::get<1>(r)); return 0; APT_CATCH(-1)
}
API int apt_topk(TH a, int64_t k, int64_t dim, int largest, TH* values, TH* indices) {
  APT_TRY auto r = at::topk(*a, k, dim, largest != 0);
  *values = wrap(std::get<0>(r)); *indices = wrap(std::get<1>(r)); return 0; APT_CATCH(-1)
}
API TH apt_argmax(TH a, int64_t dim, int has_dim, int keepdim) {
  RET_T(at::argmax(*a, has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim != 0))
}
API TH apt_argmin(TH a, int64_t dim, int has_dim, int keepdim) {
  RET_T(at::argmin(*a, has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim != 0))
}
API TH apt_norm(TH a, double p, const int64_t* dims, int n, int keepdim) {
  RET_T(n == 0 ? at::norm(*a, p) : at::norm(*a, p, ints(dims, n), keepdim != 0))
}
API TH apt_logsumexp(TH a, const int64_t* dims, int n, int keepdim) {
  RET_T(at::logsumexp(*a, ints(dims, n), keepdim != 0))
}
API TH apt_cumsum(TH a, int64_t dim) { RET_T(at::cumsum(*a, dim)) }
API TH apt_all(TH a) { RET_T(at::all(*a)) }
API TH apt_any(TH a) { RET_T(at::any(*a)) }
API TH apt_allclose_t(TH a, TH b, double rtol, double atol) {
  RET_T(at::scalar_tensor(at::allclose(*a, *b, rtol, atol) ? 1 : 0))
}

// torch.linalg: the symmetric eigen-decomposition (LAPACK syevd; eigenvalues ascending, eigenvectors as columns) and
// the singular values (descending) of a matrix or a batch of matrices.
API int apt_linalg_eigh(TH a, int upper, TH* values, TH* vectors) {
  APT_TRY auto r = at::linalg_eigh(*a, upper ? "U" : "L");
  *values = wrap(std::get<0>(r)); *vectors = wrap(std::get<1>(r)); return 0; APT_CATCH(-1)
}
API TH apt_linalg_svdvals(TH a) { RET_T(at::linalg_svdvals(*a)) }
