// Process memory figures for leak tests and memory measurements:
//  * bytes in use on the C heap (glibc malloc, every arena, plus blocks served by mmap);
//  * bytes of CPU tensor storage alive now and at the peak, counted by an allocator installed in front of
//    libtorch's default CPU allocator when the shim loads (torch.cuda.memory_allocated's CPU counterpart). It
//    allocates exactly as the default one (c10::alloc_cpu, 64-byte aligned) and remembers each block's size, so
//    the figure is the storage of the live tensors (parameters, gradients, optimizer state, activations...), not a
//    sum over shapes. Storage made before the shim loaded, or not by libtorch (memory-mapped files), is not counted.
#include "common.h"
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <malloc.h>
#include <mutex>
#include <unordered_map>

API int64_t apt_heap_bytes() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 m = mallinfo2();
  return (int64_t)(m.uordblks + m.hblkhd);
#else
  return -1;
#endif
}

namespace {
// The bookkeeping outlives every static destructor (never freed): tensors may still be released at exit.
struct Counts {
  std::mutex mutex;
  std::unordered_map<void*, size_t> sizes;
  int64_t live = 0, peak = 0;
};
Counts& counts() {
  static Counts* c = new Counts();
  return *c;
}

void delete_counted(void* data) {
  if (!data) return;
  auto& c = counts();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.sizes.find(data);
    if (it != c.sizes.end()) {
      c.live -= (int64_t)it->second;
      c.sizes.erase(it);
    }
  }
  c10::free_cpu(data);
}

struct CountingCpuAllocator final : public c10::Allocator {
  c10::DataPtr allocate(size_t nbytes) const override {
    void* data = c10::alloc_cpu(nbytes);
    if (data) {
      auto& c = counts();
      std::lock_guard<std::mutex> lock(c.mutex);
      c.sizes[data] = nbytes;
      c.live += (int64_t)nbytes;
      if (c.live > c.peak) c.peak = c.live;
    }
    return {data, data, &delete_counted, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &delete_counted; }
};

struct Install {
  Install() {
    static CountingCpuAllocator* allocator = new CountingCpuAllocator();
    c10::SetCPUAllocator(allocator, /*priority=*/1);
  }
} g_install;
}  // namespace

API int64_t apt_cpu_memory_allocated() {
  auto& c = counts();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.live;
}
API int64_t apt_cpu_max_memory_allocated() {
  auto& c = counts();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.peak;
}
API void apt_cpu_reset_peak_memory_stats() {
  auto& c = counts();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.peak = c.live;
}
