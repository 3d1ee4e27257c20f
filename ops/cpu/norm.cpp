#include "ops/cpu/norm.h"
#include "ops/cpu/vec_math.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/threadpool.h"

namespace zebra::cpu {

namespace {

inline float sigmoid_f(float v) { return sigmoid_fast(v); }
inline float silu_f(float v) { return v * sigmoid_f(v); }
// d silu(v) / dv from v and s = sigmoid(v).
inline float dsilu_f(float v, float s) { return s * (1.0f + v * (1.0f - s)); }

// Row statistics: 16 f32 lanes per block of 1024 elements, blocks added in double. Against an
// all-double sum a row loses nothing measurable (the tests compare with double references), and the
// loops stay as cheap as a copy, which the double-lane conversions were not.
double sumsq_f32(const float* x, int64_t n) {
  double total = 0.0;
  for (int64_t b = 0; b < n; b += 1024) {
    const int64_t e = std::min(n, b + 1024);
    f32x16 acc{};
    int64_t i = b;
    for (; i + kVec <= e; i += kVec) {
      __builtin_prefetch(x + i + 1024);
      f32x16 v = vload(x + i);
      acc += v * v;
    }
    for (int j = 0; j < kVec; ++j) total += double(acc[j]);
    for (; i < e; ++i) total += double(x[i]) * double(x[i]);
  }
  return total;
}

double dot3_f32(const float* a, const float* w, const float* c, int64_t n) {
  double total = 0.0;
  for (int64_t b = 0; b < n; b += 1024) {
    const int64_t e = std::min(n, b + 1024);
    f32x16 acc{};
    int64_t i = b;
    for (; i + kVec <= e; i += kVec) acc += vload(a + i) * vload(w + i) * vload(c + i);
    for (int j = 0; j < kVec; ++j) total += double(acc[j]);
    for (; i < e; ++i) total += double(a[i]) * double(w[i]) * double(c[i]);
  }
  return total;
}

// Rows per parallel task so each task touches at least ~16K elements.
int64_t row_grain(int64_t D) { return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, D)); }

}  // namespace

RmsNormForward rms_norm_forward(const Tensor& x, const Tensor& z, const Tensor& weight, double eps, int64_t group,
                                bool norm_before_gate) {
  const int64_t D = x.size(-1), N = x.numel() / D, G = D / group;
  const bool gated = z.defined();
  const bool gate_first = gated && !norm_before_gate;
  const bool gate_after = gated && norm_before_gate;
  RmsNormForward res{Tensor::empty(x.shape()), Tensor::empty({N, G})};
  // x, z, y: [N, D]; w: [D]; rstd: [N, G]
  const float* xp = x.data<float>();
  const float* zp = gated ? z.data<float>() : nullptr;
  const float* wp = weight.data<float>();
  float* yp = res.y.data<float>();
  float* rp = res.rstd.data<float>();
  parallel_for(0, N, row_grain(D), [&](int64_t lo, int64_t hi) {
    std::vector<float> ubuf(gate_first ? size_t(D) : 0);
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = xp + r * D;
      float* yr = yp + r * D;
      const float* u = xr;  // the normalised input: x, or x * silu(z) when gating comes first
      if (gate_first) {
        const float* zr = zp + r * D;
        for (int64_t d = 0; d < D; ++d) ubuf[size_t(d)] = xr[d] * silu_f(zr[d]);
        u = ubuf.data();
      }
      for (int64_t k = 0; k < G; ++k) {
        const float* uk = u + k * group;
        const float* wk = wp + k * group;
        float* yk = yr + k * group;
        double ms = sumsq_f32(uk, group) / double(group);
        float rs = float(1.0 / std::sqrt(ms + eps));
        rp[r * G + k] = rs;
        for (int64_t d = 0; d < group; ++d) yk[d] = uk[d] * rs * wk[d];
      }
      if (gate_after) {
        const float* zr = zp + r * D;
        for (int64_t d = 0; d < D; ++d) yr[d] *= silu_f(zr[d]);
      }
    }
  });
  return res;
}

RmsNormGrads rms_norm_backward(const Tensor& g, const Tensor& x, const Tensor& z, const Tensor& weight,
                               const Tensor& rstd, int64_t group, bool norm_before_gate, bool need_dx, bool need_dz,
                               bool need_dweight) {
  const int64_t D = x.size(-1), N = x.numel() / D, G = D / group;
  const bool gated = z.defined();
  const bool gate_first = gated && !norm_before_gate;
  const bool gate_after = gated && norm_before_gate;
  need_dz = need_dz && gated;
  // du (the gradient at the normaliser's input) feeds dx, and dz when the gate comes first; without a
  // leading gate it is dx itself.
  const bool need_du = need_dx || (need_dz && gate_first);
  const bool du_is_dx = need_dx && !gate_first;
  RmsNormGrads res;
  if (need_dx) res.dx = Tensor::empty(x.shape());
  if (need_dz) res.dz = Tensor::empty(z.shape());

  // g, x, z, dx, dz: [N, D]; w: [D]; rstd: [N, G]; partial: [chunks, D] in double
  const int64_t chunk_rows = std::max<int64_t>(1, (N + 63) / 64);
  const int64_t chunks = N == 0 ? 0 : (N + chunk_rows - 1) / chunk_rows;
  std::vector<double> partial(need_dweight ? size_t(chunks * D) : 0, 0.0);
  const float* gp = g.data<float>();
  const float* xp = x.data<float>();
  const float* zp = gated ? z.data<float>() : nullptr;
  const float* wp = weight.data<float>();
  const float* rp = rstd.data<float>();
  float* dxp = need_dx ? res.dx.data<float>() : nullptr;
  float* dzp = need_dz ? res.dz.data<float>() : nullptr;
  int64_t grain = std::max<int64_t>(1, row_grain(D) / chunk_rows);
  parallel_for(0, chunks, grain, [&](int64_t clo, int64_t chi) {
    // One sigmoid per element serves silu and its derivative: exp dominates this kernel's cost.
    std::vector<float> sig(gated ? size_t(D) : 0);
    std::vector<float> ubuf(gate_first ? size_t(D) : 0), gbuf(gate_after ? size_t(D) : 0);
    std::vector<float> dubuf(need_du && !du_is_dx ? size_t(D) : 0);
    for (int64_t c = clo; c < chi; ++c) {
      double* acc = need_dweight ? partial.data() + c * D : nullptr;
      for (int64_t r = c * chunk_rows; r < std::min(N, (c + 1) * chunk_rows); ++r) {
        const float* xr = xp + r * D;
        const float* zr = gated ? zp + r * D : nullptr;
        const float* gr = gp + r * D;
        const float* sg = sig.data();
        if (gated)
          for (int64_t d = 0; d < D; ++d) sig[size_t(d)] = sigmoid_f(zr[d]);
        const float* u = xr;
        if (gate_first) {
          for (int64_t d = 0; d < D; ++d) ubuf[size_t(d)] = xr[d] * (zr[d] * sg[d]);
          u = ubuf.data();
        }
        float* du = du_is_dx ? dxp + r * D : dubuf.data();
        const float* gy = gr;  // the gradient at rmsnorm(u) * w
        if (gate_after) {
          for (int64_t d = 0; d < D; ++d) gbuf[size_t(d)] = gr[d] * (zr[d] * sg[d]);
          gy = gbuf.data();
        }
        for (int64_t k = 0; k < G; ++k) {
          const int64_t o = k * group;
          const double rs = rp[r * G + k];
          if (need_du) {
            // du = rs * (w*gy - u_hat * mean(u_hat*w*gy)), u_hat = u*rs
            float c3 = float(rs * rs * rs * dot3_f32(u + o, wp + o, gy + o, group) / double(group));
            float rsf = float(rs);
            for (int64_t d = o; d < o + group; ++d) du[d] = rsf * wp[d] * gy[d] - u[d] * c3;
          }
          if (need_dweight) {
            float rsf = float(rs);
            for (int64_t d = o; d < o + group; ++d) acc[d] += double(gy[d] * (u[d] * rsf));
          }
          if (need_dz && gate_after) {
            float rsf = float(rs);
            float* dzr = dzp + r * D;
            for (int64_t d = o; d < o + group; ++d) dzr[d] = gr[d] * (u[d] * rsf * wp[d]) * dsilu_f(zr[d], sg[d]);
          }
        }
        if (need_dx && gate_first) {
          float* dxr = dxp + r * D;
          for (int64_t d = 0; d < D; ++d) dxr[d] = du[d] * (zr[d] * sg[d]);
        }
        if (need_dz && gate_first) {
          float* dzr = dzp + r * D;
          for (int64_t d = 0; d < D; ++d) dzr[d] = du[d] * xr[d] * dsilu_f(zr[d], sg[d]);
        }
      }
    }
  });

  if (need_dweight) {
    res.dweight = Tensor::empty({D});
    float* dwp = res.dweight.data<float>();
    parallel_for(0, D, 1024, [&](int64_t lo, int64_t hi) {
      std::vector<double> s(size_t(hi - lo), 0.0);
      for (int64_t c = 0; c < chunks; ++c)
        for (int64_t d = lo; d < hi; ++d) s[size_t(d - lo)] += partial[size_t(c * D + d)];
      for (int64_t d = lo; d < hi; ++d) dwp[d] = float(s[size_t(d - lo)]);
    });
  }
  return res;
}

}  // namespace zebra::cpu
