using System.Runtime.InteropServices;

namespace AptLab.Torch;

/// <summary>P/Invoke declarations of the C ABI shim (native/src/*.cpp). Tensor handles are owned
/// <c>at::Tensor*</c> as IntPtr; a returned IntPtr.Zero (or -1 status) means failure, with the message in
/// apt_last_error. Callers keep argument tensors alive across each call (see Tensor.Wrap).</summary>
internal static unsafe partial class Native
{
    private const string Lib = "aptlab_native";

    // ---- core ----
    [LibraryImport(Lib)] internal static partial IntPtr apt_last_error();
    [LibraryImport(Lib)] internal static partial void apt_clear_error();
    [LibraryImport(Lib)] internal static partial IntPtr apt_torch_version();
    [LibraryImport(Lib)] internal static partial int apt_cuda_available();
    [LibraryImport(Lib)] internal static partial long apt_live_tensors();
    [LibraryImport(Lib)] internal static partial void apt_free(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr apt_alias(IntPtr t);
    [LibraryImport(Lib)] internal static partial void apt_set_num_threads(int n);
    [LibraryImport(Lib)] internal static partial int apt_get_num_threads();

    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_dim(IntPtr t);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_sizes(IntPtr t, long* o, int cap);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_strides(IntPtr t, long* o, int cap);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial long apt_numel(IntPtr t);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_dtype(IntPtr t);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_device_type(IntPtr t);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_device_index(IntPtr t);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_requires_grad(IntPtr t);
    [LibraryImport(Lib)] internal static partial int apt_set_requires_grad(IntPtr t, int on);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_is_leaf(IntPtr t);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_is_contiguous(IntPtr t);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial long apt_storage_offset(IntPtr t);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial long apt_element_size(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr apt_data_ptr(IntPtr t);
    [LibraryImport(Lib)] internal static partial int apt_same_storage(IntPtr a, IntPtr b);

    [LibraryImport(Lib)] internal static partial IntPtr apt_empty(long* s, int n, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_zeros(long* s, int n, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_ones(long* s, int n, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_full(long* s, int n, double v, int isInt, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_arange(double start, double end, double step, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_linspace(double start, double end, long steps, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_eye(long n, long m, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_randn(long* s, int n, IntPtr gen, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_rand(long* s, int n, IntPtr gen, int dtype, int dev, int idx, int rg);
    [LibraryImport(Lib)] internal static partial IntPtr apt_randint(long low, long high, long* s, int n, IntPtr gen, int dtype, int dev, int idx);
    [LibraryImport(Lib)] internal static partial IntPtr apt_randperm(long n, IntPtr gen, int dev, int idx);
    [LibraryImport(Lib)] internal static partial IntPtr apt_empty_like(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr apt_zeros_like(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr apt_ones_like(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr apt_full_like(IntPtr t, double v, int isInt);
    [LibraryImport(Lib)] internal static partial IntPtr apt_randn_like(IntPtr t, IntPtr gen);
    [LibraryImport(Lib)] internal static partial IntPtr apt_rand_like(IntPtr t, IntPtr gen);
    [LibraryImport(Lib)] internal static partial int apt_uniform_(IntPtr t, double a, double b, IntPtr gen);
    [LibraryImport(Lib)] internal static partial int apt_normal_(IntPtr t, double mean, double std, IntPtr gen);
    [LibraryImport(Lib)] internal static partial int apt_bernoulli_(IntPtr t, double p, IntPtr gen);
    [LibraryImport(Lib)] internal static partial IntPtr apt_from_data(void* data, long* s, int n, int dtype);
    [LibraryImport(Lib)] internal static partial int apt_copy_to(IntPtr t, void* data, long nbytes);
    [LibraryImport(Lib)] internal static partial int apt_item_double(IntPtr t, double* o);
    [LibraryImport(Lib)] internal static partial int apt_item_int64(IntPtr t, long* o);
    [LibraryImport(Lib)] internal static partial IntPtr apt_to_dtype(IntPtr t, int dtype);
    [LibraryImport(Lib)] internal static partial IntPtr apt_to_device(IntPtr t, int dev, int idx);
    [LibraryImport(Lib)] internal static partial IntPtr apt_to(IntPtr t, int dtype, int dev, int idx);
    [LibraryImport(Lib)] internal static partial IntPtr apt_contiguous(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr apt_clone(IntPtr t);
    [LibraryImport(Lib)] internal static partial IntPtr apt_detach(IntPtr t);
    [LibraryImport(Lib)] internal static partial int apt_detach_(IntPtr t);
    [LibraryImport(Lib)] internal static partial int apt_copy_(IntPtr dst, IntPtr src);
    [LibraryImport(Lib)] internal static partial int apt_set_data(IntPtr dst, IntPtr src);
    [LibraryImport(Lib)] internal static partial int apt_set_data_any_device(IntPtr dst, IntPtr src);
    [LibraryImport(Lib)] internal static partial void apt_manual_seed(ulong seed);
    [LibraryImport(Lib)] internal static partial IntPtr apt_generator_new(ulong seed);
    [LibraryImport(Lib)] internal static partial void apt_generator_free(IntPtr g);
    [LibraryImport(Lib)] internal static partial int apt_generator_seed(IntPtr g, ulong seed);
    [LibraryImport(Lib)] internal static partial IntPtr apt_default_generator();
    [LibraryImport(Lib)] internal static partial IntPtr apt_generator_get_state(IntPtr g);
    [LibraryImport(Lib)] internal static partial int apt_generator_set_state(IntPtr g, IntPtr state);

    // ---- elementwise, reductions ----
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial IntPtr apt_einsum(string eq, IntPtr* list, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_gelu(IntPtr a, int tanh);
    [LibraryImport(Lib)] internal static partial IntPtr apt_softplus(IntPtr a, double beta, double threshold);
    [LibraryImport(Lib)] internal static partial IntPtr apt_leaky_relu(IntPtr a, double slope);
    [LibraryImport(Lib)] internal static partial IntPtr apt_clamp(IntPtr a, double lo, int hasLo, double hi, int hasHi);
    [LibraryImport(Lib)] internal static partial int apt_clamp_(IntPtr a, double lo, int hasLo, double hi, int hasHi);
    [LibraryImport(Lib)] internal static partial IntPtr apt_polar(IntPtr abs, IntPtr angle);
    [LibraryImport(Lib)] internal static partial IntPtr apt_complex(IntPtr re, IntPtr im);
    [LibraryImport(Lib)] internal static partial IntPtr apt_add(IntPtr a, IntPtr b, double alpha);
    [LibraryImport(Lib)] internal static partial IntPtr apt_sub(IntPtr a, IntPtr b, double alpha);
    [LibraryImport(Lib)] internal static partial IntPtr apt_baddbmm(IntPtr self, IntPtr a, IntPtr b, double beta, double alpha);
    [LibraryImport(Lib)] internal static partial IntPtr apt_addmm(IntPtr self, IntPtr a, IntPtr b, double beta, double alpha);
    [LibraryImport(Lib)] internal static partial IntPtr apt_lerp(IntPtr a, IntPtr b, double w);
    [LibraryImport(Lib)] internal static partial IntPtr apt_where(IntPtr c, IntPtr a, IntPtr b);
    [LibraryImport(Lib)] internal static partial IntPtr apt_where_s(IntPtr c, IntPtr a, double v);
    [LibraryImport(Lib)] internal static partial IntPtr apt_rpow_s(IntPtr a, double v);
    [LibraryImport(Lib)] internal static partial IntPtr apt_rdiv_s(IntPtr a, double v);
    [LibraryImport(Lib)] internal static partial int apt_add_(IntPtr a, IntPtr b, double alpha);
    [LibraryImport(Lib)] internal static partial int apt_sub_(IntPtr a, IntPtr b, double alpha);
    [LibraryImport(Lib)] internal static partial int apt_mul_(IntPtr a, IntPtr b);
    [LibraryImport(Lib)] internal static partial int apt_div_(IntPtr a, IntPtr b);
    [LibraryImport(Lib)] internal static partial int apt_add_s_(IntPtr a, double v);
    [LibraryImport(Lib)] internal static partial int apt_mul_s_(IntPtr a, double v);
    [LibraryImport(Lib)] internal static partial int apt_div_s_(IntPtr a, double v);
    [LibraryImport(Lib)] internal static partial int apt_addcmul_(IntPtr a, IntPtr t1, IntPtr t2, double v);
    [LibraryImport(Lib)] internal static partial int apt_addcdiv_(IntPtr a, IntPtr t1, IntPtr t2, double v);
    [LibraryImport(Lib)] internal static partial int apt_lerp_(IntPtr a, IntPtr end, double w);
    [LibraryImport(Lib)] internal static partial int apt_zero_(IntPtr a);
    [LibraryImport(Lib)] internal static partial int apt_fill_(IntPtr a, double v);
    [LibraryImport(Lib)] internal static partial int apt_sqrt_(IntPtr a);
    [LibraryImport(Lib)] internal static partial int apt_masked_fill_(IntPtr a, IntPtr mask, double v);
    [LibraryImport(Lib)] internal static partial IntPtr apt_sum(IntPtr a, long* dims, int n, int keepdim, int dtype);
    [LibraryImport(Lib)] internal static partial IntPtr apt_mean(IntPtr a, long* dims, int n, int keepdim, int dtype);
    [LibraryImport(Lib)] internal static partial IntPtr apt_prod(IntPtr a, long dim, int hasDim, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_var(IntPtr a, long* dims, int n, long correction, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_std(IntPtr a, long* dims, int n, long correction, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_amax(IntPtr a, long* dims, int n, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_amin(IntPtr a, long* dims, int n, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_max_all(IntPtr a);
    [LibraryImport(Lib)] internal static partial IntPtr apt_min_all(IntPtr a);
    [LibraryImport(Lib)] internal static partial int apt_max_dim(IntPtr a, long dim, int keepdim, IntPtr* values, IntPtr* indices);
    [LibraryImport(Lib)] internal static partial int apt_min_dim(IntPtr a, long dim, int keepdim, IntPtr* values, IntPtr* indices);
    [LibraryImport(Lib)] internal static partial int apt_sort(IntPtr a, long dim, int descending, IntPtr* values, IntPtr* indices);
    [LibraryImport(Lib)] internal static partial int apt_topk(IntPtr a, long k, long dim, int largest, IntPtr* values, IntPtr* indices);
    [LibraryImport(Lib)] internal static partial int apt_linalg_eigh(IntPtr a, int upper, IntPtr* values, IntPtr* vectors);
    [LibraryImport(Lib)] internal static partial IntPtr apt_linalg_svdvals(IntPtr a);
    [LibraryImport(Lib)] internal static partial IntPtr apt_argmax(IntPtr a, long dim, int hasDim, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_argmin(IntPtr a, long dim, int hasDim, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_norm(IntPtr a, double p, long* dims, int n, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_logsumexp(IntPtr a, long* dims, int n, int keepdim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_cumsum(IntPtr a, long dim);

    // ---- shape ----
    [LibraryImport(Lib)] internal static partial IntPtr apt_view(IntPtr a, long* s, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_reshape(IntPtr a, long* s, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_permute(IntPtr a, long* s, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_expand(IntPtr a, long* s, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_repeat(IntPtr a, long* s, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_flip(IntPtr a, long* s, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_roll(IntPtr a, long* shifts, long* dims, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_transpose(IntPtr a, long d0, long d1);
    [LibraryImport(Lib)] internal static partial IntPtr apt_squeeze(IntPtr a, long dim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_squeeze_all(IntPtr a);
    [LibraryImport(Lib)] internal static partial IntPtr apt_unsqueeze(IntPtr a, long dim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_flatten(IntPtr a, long start, long end);
    [LibraryImport(Lib)] internal static partial IntPtr apt_unflatten(IntPtr a, long dim, long* s, int n);
    [LibraryImport(Lib)] internal static partial IntPtr apt_narrow(IntPtr a, long dim, long start, long length);
    [LibraryImport(Lib)] internal static partial IntPtr apt_slice(IntPtr a, long dim, long start, long end, long step);
    [LibraryImport(Lib)] internal static partial IntPtr apt_select(IntPtr a, long dim, long index);
    [LibraryImport(Lib)] internal static partial IntPtr apt_index_select(IntPtr a, long dim, IntPtr index);
    [LibraryImport(Lib)] internal static partial IntPtr apt_gather(IntPtr a, long dim, IntPtr index);
    [LibraryImport(Lib)] internal static partial IntPtr apt_scatter(IntPtr a, long dim, IntPtr index, IntPtr src);
    [LibraryImport(Lib)] internal static partial IntPtr apt_scatter_add(IntPtr a, long dim, IntPtr index, IntPtr src);
    [LibraryImport(Lib)] internal static partial IntPtr apt_masked_fill(IntPtr a, IntPtr mask, double v);
    [LibraryImport(Lib)] internal static partial IntPtr apt_masked_fill_t(IntPtr a, IntPtr mask, IntPtr v);
    [LibraryImport(Lib)] internal static partial IntPtr apt_masked_select(IntPtr a, IntPtr mask);
    [LibraryImport(Lib)] internal static partial IntPtr apt_tril(IntPtr a, long k);
    [LibraryImport(Lib)] internal static partial IntPtr apt_triu(IntPtr a, long k);
    [LibraryImport(Lib)] internal static partial IntPtr apt_repeat_interleave(IntPtr a, long repeats, long dim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_nonzero(IntPtr a);
    [LibraryImport(Lib)] internal static partial IntPtr apt_index(IntPtr a, IntPtr* indices, int n);
    [LibraryImport(Lib)] internal static partial int apt_index_put_(IntPtr a, IntPtr* indices, int n, IntPtr values, int accumulate);
    [LibraryImport(Lib)] internal static partial IntPtr apt_cat(IntPtr* list, int n, long dim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_stack(IntPtr* list, int n, long dim);
    [LibraryImport(Lib)] internal static partial int apt_chunk(IntPtr a, long chunks, long dim, IntPtr* o, int cap);
    [LibraryImport(Lib)] internal static partial int apt_split(IntPtr a, long size, long dim, IntPtr* o, int cap);
    [LibraryImport(Lib)] internal static partial int apt_split_sizes(IntPtr a, long* sizes, int n, long dim, IntPtr* o, int cap);
    [LibraryImport(Lib)] internal static partial int apt_unbind(IntPtr a, long dim, IntPtr* o, int cap);
    [LibraryImport(Lib)] internal static partial IntPtr apt_pad(IntPtr a, long* pad, int n, int mode, double value);

    // ---- nn ----
    [LibraryImport(Lib)] internal static partial int apt_has_native_sdpa();
    [LibraryImport(Lib)] internal static partial IntPtr apt_linear(IntPtr x, IntPtr w, IntPtr b);
    [LibraryImport(Lib)] internal static partial IntPtr apt_conv(IntPtr x, IntPtr w, IntPtr b, long* stride, long* padding, long* dilation, int nd, long groups);
    [LibraryImport(Lib)] internal static partial IntPtr apt_conv_transpose(IntPtr x, IntPtr w, IntPtr b, long* stride, long* padding, long* outputPadding, long* dilation, int nd, long groups);
    [LibraryImport(Lib)] internal static partial IntPtr apt_layer_norm(IntPtr x, long* shape, int n, IntPtr w, IntPtr b, double eps);
    [LibraryImport(Lib)] internal static partial IntPtr apt_group_norm(IntPtr x, long groups, IntPtr w, IntPtr b, double eps);
    [LibraryImport(Lib)] internal static partial IntPtr apt_rms_norm(IntPtr x, long* shape, int n, IntPtr w, double eps);
    [LibraryImport(Lib)] internal static partial IntPtr apt_softmax(IntPtr x, long dim, int dtype);
    [LibraryImport(Lib)] internal static partial IntPtr apt_log_softmax(IntPtr x, long dim, int dtype);
    [LibraryImport(Lib)] internal static partial IntPtr apt_dropout(IntPtr x, double p, int train);
    [LibraryImport(Lib)] internal static partial IntPtr apt_embedding(IntPtr w, IntPtr idx);
    [LibraryImport(Lib)] internal static partial IntPtr apt_weight_norm(IntPtr v, IntPtr g, long dim);
    [LibraryImport(Lib)] internal static partial IntPtr apt_attention(IntPtr q, IntPtr k, IntPtr v, IntPtr mask, int isCausal, double scale, double dropout);
    [LibraryImport(Lib)] internal static partial IntPtr apt_interpolate(IntPtr x, long* size, double* scales, int n, int mode, int alignCorners);
    [LibraryImport(Lib)] internal static partial IntPtr apt_avg_pool2d(IntPtr x, long* k, long* s, long* p);
    [LibraryImport(Lib)] internal static partial IntPtr apt_max_pool2d(IntPtr x, long* k, long* s, long* p);
    [LibraryImport(Lib)] internal static partial IntPtr apt_adaptive_avg_pool2d(IntPtr x, long h, long w);
    [LibraryImport(Lib)] internal static partial IntPtr apt_max_pool(IntPtr x, long* k, long* s, long* p, int nd, int ceilMode);
    [LibraryImport(Lib)] internal static partial IntPtr apt_avg_pool(IntPtr x, long* k, long* s, long* p, int nd, int ceilMode, int countIncludePad);
    [LibraryImport(Lib)] internal static partial IntPtr apt_batch_norm(IntPtr x, IntPtr runningMean, IntPtr runningVar, IntPtr w, IntPtr b, int training, double momentum, double eps);
    [LibraryImport(Lib)] internal static partial IntPtr apt_mse_loss(IntPtr a, IntPtr b, int reduction);
    [LibraryImport(Lib)] internal static partial IntPtr apt_l1_loss(IntPtr a, IntPtr b, int reduction);
    [LibraryImport(Lib)] internal static partial IntPtr apt_cross_entropy(IntPtr logits, IntPtr target, IntPtr weight, int reduction, long ignoreIndex, double labelSmoothing);
    [LibraryImport(Lib)] internal static partial IntPtr apt_bce_with_logits(IntPtr logits, IntPtr target, int reduction);

    // ---- autograd ----
    [LibraryImport(Lib)] internal static partial int apt_backward(IntPtr t, IntPtr grad, int retainGraph, int createGraph);
    [LibraryImport(Lib)] internal static partial int apt_grad(IntPtr t, IntPtr* o);
    [LibraryImport(Lib)] internal static partial int apt_set_grad(IntPtr t, IntPtr g);
    [LibraryImport(Lib)] internal static partial int apt_retain_grad(IntPtr t);
    [LibraryImport(Lib)] internal static partial int apt_autograd_grad(IntPtr* outputs, int nOut, IntPtr* inputs, int nIn, IntPtr* gradOutputs, int retain, int create, int allowUnused, IntPtr* result);
    [LibraryImport(Lib), SuppressGCTransition] internal static partial int apt_is_grad_enabled();
    [LibraryImport(Lib), SuppressGCTransition] internal static partial void apt_set_grad_enabled(int on);
    [LibraryImport(Lib)] internal static partial void apt_set_checkpoint_callbacks(delegate* unmanaged<long, int, IntPtr*, int, IntPtr*, int, int> run, delegate* unmanaged<long, int> done, delegate* unmanaged<long, void> release);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial void apt_set_error_message(string message);
    [LibraryImport(Lib)] internal static partial int apt_checkpoint(long fnId, IntPtr* inputs, int nIn, IntPtr* outputs, int cap);

    [LibraryImport(Lib)] internal static partial int apt_c10d_available();

    internal static string LastError() => Marshal.PtrToStringUTF8(apt_last_error()) ?? "unknown libtorch error";
}
