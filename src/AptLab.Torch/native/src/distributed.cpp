// c10d process groups. Filled in by the multi-process issue; reports availability until then.
#include "common.h"

API int apt_c10d_available() {
#ifdef APTLAB_WITH_C10D
  return 1;
#else
  return 0;
#endif
}
