#include "ops/cpu/rope.h"

#include <algorithm>
#include <cmath>

#include "core/threadpool.h"

namespace zebra::cpu {

RopeTable rope_table(const std::vector<double>& inv_freq, double scale, int64_t T, int64_t pos_offset) {
  const int64_t half = int64_t(inv_freq.size());
  RopeTable tab{Tensor::empty({T, half}), Tensor::empty({T, half})};
  // cos, sin: [T, half]
  float* cp = tab.cos.data<float>();
  float* sp = tab.sin.data<float>();
  parallel_for(0, T, std::max<int64_t>(1, 2048 / std::max<int64_t>(1, half)), [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const double pos = double(pos_offset + t);
      for (int64_t i = 0; i < half; ++i) {
        const double a = pos * inv_freq[size_t(i)];
        cp[t * half + i] = float(std::cos(a) * scale);
        sp[t * half + i] = float(std::sin(a) * scale);
      }
    }
  });
  return tab;
}

Tensor rope_apply(const Tensor& x, const RopeTable& table, bool interleaved, bool inverse) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), dim = x.size(3), half = dim / 2;
  Tensor out = Tensor::empty(x.shape());
  // x, out: [B, T, H, dim]; cos, sin: [T, half]
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  const float* cp = table.cos.data<float>();
  // R(-a) = R(a)^T: the inverse only flips the sign of sin.
  std::vector<float> neg_sin;
  const float* sp = table.sin.data<float>();
  if (inverse) {
    neg_sin.resize(size_t(T * half));
    for (int64_t i = 0; i < T * half; ++i) neg_sin[size_t(i)] = -sp[i];
    sp = neg_sin.data();
  }
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, H * dim));
  parallel_for(0, B * T, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t bt = lo; bt < hi; ++bt) {
      const int64_t t = bt % T;
      const float* c = cp + t * half;
      const float* s = sp + t * half;
      for (int64_t h = 0; h < H; ++h) {
        const float* xr = xp + (bt * H + h) * dim;
        float* yr = op + (bt * H + h) * dim;
        if (interleaved) {
          for (int64_t i = 0; i < half; ++i) {
            const float x0 = xr[2 * i], x1 = xr[2 * i + 1];
            yr[2 * i] = x0 * c[i] - x1 * s[i];
            yr[2 * i + 1] = x1 * c[i] + x0 * s[i];
          }
        } else {
          for (int64_t i = 0; i < half; ++i) {
            const float x0 = xr[i], x1 = xr[i + half];
            yr[i] = x0 * c[i] - x1 * s[i];
            yr[i + half] = x1 * c[i] + x0 * s[i];
          }
        }
      }
    }
  });
  return out;
}

}  // namespace zebra::cpu
