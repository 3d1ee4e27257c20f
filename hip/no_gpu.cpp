// Linked into builds without a GPU backend (-DZEBRA_GPU=OFF): every GPU entry point reports that.
#include "core/allocator.h"

namespace zebra {
bool gpu_compiled() { return false; }
}  // namespace zebra
