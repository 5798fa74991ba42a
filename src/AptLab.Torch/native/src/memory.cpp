// Process memory figures for leak tests: bytes in use on the C heap (glibc malloc, every arena, plus blocks
// served by mmap), which is where libtorch's CPU allocator takes tensor storage from.
#include "common.h"
#include <malloc.h>

API int64_t apt_heap_bytes() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 m = mallinfo2();
  return (int64_t)(m.uordblks + m.hblkhd);
#else
  return -1;
#endif
}
