// Shared by every op: device dispatch guard. An op whose GPU kernel does not exist yet rejects GPU
// inputs with a message naming it (the hip/ backend replaces these checks op by op).
#pragma once
#include <initializer_list>

#include "core/tensor.h"

namespace zebra {

inline void expect_cpu(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t && t->defined())
      ZCHECK(t->device().is_cpu(), op, ": no kernel for ", t->device().str(), " in this build");
}

// CPU kernels compute in f32; other float dtypes are converted by the caller.
inline void expect_f32(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  for (auto& [name, t] : ts)
    if (t && t->defined()) check_dtype(*t, DType::F32, op, name);
}

}  // namespace zebra
