// CPU loops behind ops/elementwise.cpp: flat loops for contiguous operands, a row-wise strided
// walk for broadcasting. Templates, so each op's lambda is inlined and vectorised.
#pragma once
#include <algorithm>
#include <type_traits>

#include "core/tensor.h"
#include "core/threadpool.h"
#include "ops/cpu/vec_math.h"

namespace zebra::cpu {

constexpr int64_t kElementwiseGrain = 1 << 15;

// out[i] = f(a[i]); f takes a float, or an f32x16 (vec_math.h) to run 16 lanes at a time.
template <class F>
Tensor unary(const Tensor& a_in, F f) {
  Tensor a = a_in.contiguous();
  Tensor out = Tensor::empty(a.shape());
  const float* x = a.data<float>();
  float* y = out.data<float>();
  parallel_for(0, a.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    if constexpr (std::is_invocable_v<F, f32x16>) {
      vmap(x + lo, y + lo, hi - lo, f);
    } else {
      for (int64_t i = lo; i < hi; ++i) y[i] = f(x[i]);
    }
  });
  return out;
}

// out = f(a, b) for same-shape operands, 16 floats at a time.
template <class F>
Tensor binary_vec(const Tensor& a_in, const Tensor& b_in, F f) {
  Tensor a = a_in.contiguous(), b = b_in.contiguous();
  Tensor out = Tensor::empty(a.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* y = out.data<float>();
  parallel_for(0, a.numel(), kElementwiseGrain,
               [&](int64_t lo, int64_t hi) { vmap2(pa + lo, pb + lo, y + lo, hi - lo, f); });
  return out;
}

// Offsets of row r (all axes but the last) of a view with `strides` inside `shape`.
inline int64_t row_offset(int64_t r, const Shape& shape, const Shape& strides) {
  int64_t off = 0;
  for (size_t d = shape.size() - 1; d-- > 0;) {
    int64_t i = r % shape[d];
    r /= shape[d];
    off += i * strides[d];
  }
  return off;
}

// out = f(a, b) with NumPy broadcasting; a, b f32 with any strides.
template <class F>
Tensor binary(const Tensor& a, const Tensor& b, const Shape& out_shape, F f) {
  Tensor out = Tensor::empty(out_shape);
  float* y = out.data<float>();
  int64_t n = out.numel();
  if (n == 0) return out;
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  if (a.shape() == out_shape && b.shape() == out_shape && a.is_contiguous() && b.is_contiguous()) {
    parallel_for(0, n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i += kVec) {
        __builtin_prefetch(pa + i + 1024);  // 4 KiB ahead on both streams
        __builtin_prefetch(pb + i + 1024);
        const int64_t e = std::min(hi, i + kVec);
        for (int64_t j = i; j < e; ++j) y[j] = f(pa[j], pb[j]);
      }
    });
    return out;
  }
  if (b.numel() == 1 && a.shape() == out_shape && a.is_contiguous()) {
    float s = pb[0];
    parallel_for(0, n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) y[i] = f(pa[i], s);
    });
    return out;
  }
  if (a.numel() == 1 && b.shape() == out_shape && b.is_contiguous()) {
    float s = pa[0];
    parallel_for(0, n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) y[i] = f(s, pb[i]);
    });
    return out;
  }
  Shape shape = out_shape.empty() ? Shape{1} : out_shape;
  Shape sa = out_shape.empty() ? Shape{0} : broadcast_strides(a.shape(), a.strides(), out_shape);
  Shape sb = out_shape.empty() ? Shape{0} : broadcast_strides(b.shape(), b.strides(), out_shape);
  int64_t inner = shape.back(), ia = sa.back(), ib = sb.back();
  int64_t rows = n / inner;
  parallel_for(0, rows, std::max<int64_t>(1, kElementwiseGrain / inner), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* ra = pa + row_offset(r, shape, sa);
      const float* rb = pb + row_offset(r, shape, sb);
      float* ry = y + r * inner;
      if (ia == 1 && ib == 1) {
        for (int64_t j = 0; j < inner; ++j) ry[j] = f(ra[j], rb[j]);
      } else if (ia == 1 && ib == 0) {
        float s = rb[0];
        for (int64_t j = 0; j < inner; ++j) ry[j] = f(ra[j], s);
      } else if (ia == 0 && ib == 1) {
        float s = ra[0];
        for (int64_t j = 0; j < inner; ++j) ry[j] = f(s, rb[j]);
      } else {
        for (int64_t j = 0; j < inner; ++j) ry[j] = f(ra[j * ia], rb[j * ib]);
      }
    }
  });
  return out;
}

// out = f(c, a, b) with c u8 and a, b f32, all broadcast to out_shape (any strides).
template <class F>
Tensor select3(const Tensor& c, const Tensor& a, const Tensor& b, const Shape& out_shape, F f) {
  Tensor out = Tensor::empty(out_shape);
  if (out.numel() == 0) return out;
  Shape shape = out_shape.empty() ? Shape{1} : out_shape;
  auto strides_of = [&](const Tensor& t) {
    return out_shape.empty() ? Shape{0} : broadcast_strides(t.shape(), t.strides(), out_shape);
  };
  Shape sc = strides_of(c), sa = strides_of(a), sb = strides_of(b);
  const uint8_t* pc = c.data<uint8_t>();
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* y = out.data<float>();
  int64_t inner = shape.back(), rows = out.numel() / inner;
  int64_t ic = sc.back(), ia = sa.back(), ib = sb.back();
  parallel_for(0, rows, std::max<int64_t>(1, kElementwiseGrain / inner), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const uint8_t* rc = pc + row_offset(r, shape, sc);
      const float* ra = pa + row_offset(r, shape, sa);
      const float* rb = pb + row_offset(r, shape, sb);
      float* ry = y + r * inner;
      for (int64_t j = 0; j < inner; ++j) ry[j] = f(rc[j * ic], ra[j * ia], rb[j * ib]);
    }
  });
  return out;
}

}  // namespace zebra::cpu
