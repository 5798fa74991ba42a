// Views, indexing and joining.
#include "common.h"

using namespace aptlab;

API TH apt_view(TH a, const int64_t* s, int n) { RET_T(a->view(ints(s, n))) }
API TH apt_reshape(TH a, const int64_t* s, int n) { RET_T(a->reshape(ints(s, n))) }
API TH apt_permute(TH a, const int64_t* s, int n) { RET_T(a->permute(ints(s, n))) }
API TH apt_expand(TH a, const int64_t* s, int n) { RET_T(a->expand(ints(s, n))) }
API TH apt_repeat(TH a, const int64_t* s, int n) { RET_T(a->repeat(ints(s, n))) }
API TH apt_flip(TH a, const int64_t* s, int n) { RET_T(a->flip(ints(s, n))) }
API TH apt_roll(TH a, const int64_t* shifts, const int64_t* dims, int n) {
  RET_T(at::roll(*a, ints(shifts, n), ints(dims, n)))
}
API TH apt_transpose(TH a, int64_t d0, int64_t d1) { RET_T(a->transpose(d0, d1)) }
API TH apt_squeeze(TH a, int64_t dim) { RET_T(a->squeeze(dim)) }
API TH apt_squeeze_all(TH a) { RET_T(a->squeeze()) }
API TH apt_unsqueeze(TH a, int64_t dim) { RET_T(a->unsqueeze(dim)) }
API TH apt_flatten(TH a, int64_t start, int64_t end) { RET_T(a->flatten(start, end)) }
API TH apt_unflatten(TH a, int64_t dim, const int64_t* s, int n) { RET_T(a->unflatten(dim, ints(s, n))) }
API TH apt_narrow(TH a, int64_t dim, int64_t start, int64_t length) { RET_T(a->narrow(dim, start, length)) }
API TH apt_slice(TH a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  RET_T(a->slice(dim, start, end, step))
}
API TH apt_select(TH a, int64_t dim, int64_t index) { RET_T(a->select(dim, index)) }
API TH apt_index_select(TH a, int64_t dim, TH index) { RET_T(a->index_select(dim, *index)) }
API TH apt_gather(TH a, int64_t dim, TH index) { RET_T(a->gather(dim, *index)) }
API TH apt_scatter(TH a, int64_t dim, TH index, TH src) { RET_T(a->scatter(dim, *index, *src)) }
API TH apt_scatter_add(TH a, int64_t dim, TH index, TH src) { RET_T(a->scatter_add(dim, *index, *src)) }
API TH apt_masked_fill(TH a, TH mask, double v) { RET_T(a->masked_fill(*mask, v)) }
API TH apt_masked_fill_t(TH a, TH mask, TH v) { RET_T(a->masked_fill(*mask, *v)) }
API TH apt_masked_select(TH a, TH mask) { RET_T(a->masked_select(*mask)) }
API TH apt_tril(TH a, int64_t k) { RET_T(a->tril(k)) }
API TH apt_triu(TH a, int64_t k) { RET_T(a->triu(k)) }
API TH apt_repeat_interleave(TH a, int64_t repeats, int64_t dim) { RET_T(a->repeat_interleave(repeats, dim)) }
API TH apt_nonzero(TH a) { RET_T(a->nonzero()) }
// Advanced indexing with one index tensor per leading dim (nullptr = full slice).
API TH apt_index(TH a, TH* indices, int n) {
  APT_TRY
  c10::List<c10::optional<at::Tensor>> list;
  for (int i = 0; i < n; i++) list.push_back(opt(indices[i]));
  return wrap(at::index(*a, list));
  APT_CATCH(nullptr)
}
API int apt_index_put_(TH a, TH* indices, int n, TH values, int accumulate) {
  APT_TRY
  c10::List<c10::optional<at::Tensor>> list;
  for (int i = 0; i < n; i++) list.push_back(opt(indices[i]));
  at::index_put_(*a, list, *values, accumulate != 0);
  return 0;
  APT_CATCH(-1)
}
API TH apt_cat(TH* list, int n, int64_t dim) { RET_T(at::cat(tensors(list, n), dim)) }
API TH apt_stack(TH* list, int n, int64_t dim) { RET_T(at::stack(tensors(list, n), dim)) }
API int apt_chunk(TH a, int64_t chunks, int64_t dim, TH* out, int capacity) {
  APT_TRY return write_list(a->chunk(chunks, dim), out, capacity); APT_CATCH(-1)
}
API int apt_split(TH a, int64_t size, int64_t dim, TH* out, int capacity) {
  APT_TRY return write_list(a->split(size, dim), out, capacity); APT_CATCH(-1)
}
API int apt_split_sizes(TH a, const int64_t* sizes, int n, int64_t dim, TH* out, int capacity) {
  APT_TRY return write_list(a->split_with_sizes(ints(sizes, n), dim), out, capacity); APT_CATCH(-1)
}
API int apt_unbind(TH a, int64_t dim, TH* out, int capacity) {
  APT_TRY return write_list(a->unbind(dim), out, capacity); APT_CATCH(-1)
}
// F.pad: pad lists pairs from the last dim backwards; mode 0 constant, 1 reflect, 2 replicate, 3 circular.
API TH apt_pad(TH a, const int64_t* pad, int n, int mode, double value) {
  APT_TRY
  static const char* modes[] = {"constant", "reflect", "replicate", "circular"};
  return wrap(at::pad(*a, ints(pad, n), modes[mode],
                      mode == 0 ? c10::optional<double>(value) : c10::nullopt));
  APT_CATCH(nullptr)
}
// A view of a's storage with explicit sizes, strides and storage offset (elements); used by the checkpoint
// reader to rebuild torch.save views that share one storage.
API TH apt_as_strided(TH a, const int64_t* size, const int64_t* stride, int n, int64_t storage_offset) {
  RET_T(a->as_strided(ints(size, n), ints(stride, n), storage_offset))
}
