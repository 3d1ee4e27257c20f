#include "ops/cpu/softmax.h"
#include "ops/cpu/vec_math.h"

#include <algorithm>
#include <cmath>

#include "core/threadpool.h"

namespace zebra::cpu {

namespace {

// Columns of one [n, inner] slab handled together in the strided softmax: wide enough for the
// inner loops to vectorise, small enough for the per-column statistics to stay on the stack.
constexpr int64_t kBlock = 64;

// Items (elements) a thread should get before splitting is worth it.
constexpr int64_t kGrainElems = 1 << 14;

int64_t grain_for(int64_t per_item) { return std::max<int64_t>(1, kGrainElems / std::max<int64_t>(per_item, 1)); }

// x: [n]; NaNs are skipped here and surface through the exponentials.
float row_max(const float* x, int64_t n) { return max_f32(x, n); }

// x: [n]; log(sum(exp((x - m) * scale))). Shifting before scaling keeps the largest term exactly
// exp(0) for any scale; x * scale - max(x * scale) may be contracted into an FMA that leaves a
// rounding residue there.
float row_logsum(const float* x, int64_t n, float scale, float m) {
  return float(std::log(sum_exp(x, n, m, scale)));
}

// x, y: [n]
void softmax_row(const float* x, float* y, int64_t n, bool log) {
  float m = row_max(x, n);
  if (log) {
    float ls = row_logsum(x, n, 1.0f, m);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - ls;
    return;
  }
  vmap(x, y, n, [m](f32x16 v) { return vexp(v - m); });
  float inv = float(1.0 / sum_f32(y, n));
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

// x, y: [n, inner] slab, columns [j0, j0 + w) with w <= kBlock; softmax down each column.
void softmax_columns(const float* x, float* y, int64_t n, int64_t inner, int64_t w, bool log) {
  float m[kBlock];
  double s[kBlock];
  std::fill(m, m + w, -INFINITY);
  std::fill(s, s + w, 0.0);
  for (int64_t c = 0; c < n; ++c) {
    const float* xr = x + c * inner;
    for (int64_t j = 0; j < w; ++j) m[j] = std::max(m[j], xr[j]);
  }
  for (int64_t c = 0; c < n; ++c) {
    const float* xr = x + c * inner;
    float* yr = y + c * inner;
    for (int64_t j = 0; j < w; ++j) {
      float e = exp_fast(xr[j] - m[j]);
      yr[j] = e;
      s[j] += e;
    }
  }
  float f[kBlock];  // log: log(sum); softmax: 1 / sum
  for (int64_t j = 0; j < w; ++j) f[j] = log ? float(std::log(s[j])) : float(1.0 / s[j]);
  for (int64_t c = 0; c < n; ++c) {
    const float* xr = x + c * inner;
    float* yr = y + c * inner;
    if (log) {
      for (int64_t j = 0; j < w; ++j) yr[j] = (xr[j] - m[j]) - f[j];
    } else {
      for (int64_t j = 0; j < w; ++j) yr[j] *= f[j];
    }
  }
}

// y, g, dx: [n]
void softmax_backward_row(const float* y, const float* g, float* dx, int64_t n, bool log) {
  if (log) {
    float sf = float(sum_f32(g, n));
    vmap2(g, y, dx, n, [sf](f32x16 gv, f32x16 yv) { return gv - vexp(yv) * sf; });
  } else {
    float sf = float(dot_f32(g, y, n));
    for (int64_t i = 0; i < n; ++i) dx[i] = y[i] * (g[i] - sf);
  }
}

// y, g, dx: [n, inner] slab, columns [j0, j0 + w).
void softmax_backward_columns(const float* y, const float* g, float* dx, int64_t n, int64_t inner, int64_t w,
                              bool log) {
  double s[kBlock];
  std::fill(s, s + w, 0.0);
  for (int64_t c = 0; c < n; ++c) {
    const float* yr = y + c * inner;
    const float* gr = g + c * inner;
    for (int64_t j = 0; j < w; ++j) s[j] += log ? double(gr[j]) : double(gr[j]) * yr[j];
  }
  float sf[kBlock];
  for (int64_t j = 0; j < w; ++j) sf[j] = float(s[j]);
  for (int64_t c = 0; c < n; ++c) {
    const float* yr = y + c * inner;
    const float* gr = g + c * inner;
    float* dr = dx + c * inner;
    if (log) {
      for (int64_t j = 0; j < w; ++j) dr[j] = gr[j] - exp_fast(yr[j]) * sf[j];
    } else {
      for (int64_t j = 0; j < w; ++j) dr[j] = yr[j] * (gr[j] - sf[j]);
    }
  }
}

// Runs fn(slab_offset, width) over every column block of an [outer, n, inner] tensor.
template <class F>
void for_column_blocks(int64_t outer, int64_t n, int64_t inner, F&& fn) {
  int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(0, outer * blocks, grain_for(n * kBlock), [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      int64_t o = t / blocks, j0 = (t % blocks) * kBlock;
      fn(o * n * inner + j0, std::min(kBlock, inner - j0));
    }
  });
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  if (outer * n * inner == 0) return;
  if (inner == 1) {
    parallel_for(0, outer, grain_for(n), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) softmax_row(x + r * n, y + r * n, n, log);
    });
    return;
  }
  for_column_blocks(outer, n, inner, [&](int64_t off, int64_t w) { softmax_columns(x + off, y + off, n, inner, w, log); });
}

void softmax_backward(const float* y, const float* g, float* dx, int64_t outer, int64_t n, int64_t inner, bool log) {
  if (outer * n * inner == 0) return;
  if (inner == 1) {
    parallel_for(0, outer, grain_for(n), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) softmax_backward_row(y + r * n, g + r * n, dx + r * n, n, log);
    });
    return;
  }
  for_column_blocks(outer, n, inner, [&](int64_t off, int64_t w) {
    softmax_backward_columns(y + off, g + off, dx + off, n, inner, w, log);
  });
}

void cross_entropy_forward(const float* logits, const int64_t* targets, int64_t rows, int64_t V, int64_t ignore_index,
                           float* loss, float* stats) {
  parallel_for(0, rows, grain_for(V), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* x = logits + i * V;
      if (targets[i] == ignore_index) {
        loss[i] = 0.0f;
        stats[2 * i] = stats[2 * i + 1] = 0.0f;
        continue;
      }
      float m = row_max(x, V), ls = row_logsum(x, V, 1.0f, m);
      stats[2 * i] = m;
      stats[2 * i + 1] = ls;
      loss[i] = float((double(m) - x[targets[i]]) + ls);
    }
  });
}

void cross_entropy_backward(const float* logits, const int64_t* targets, const float* stats, const float* row_scale,
                            int64_t rows, int64_t V, float* dx) {
  parallel_for(0, rows, grain_for(V), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* x = logits + i * V;
      float* d = dx + i * V;
      float sc = row_scale[i];
      if (sc == 0.0f) {
        std::fill(d, d + V, 0.0f);
        continue;
      }
      float m = stats[2 * i], ls = stats[2 * i + 1];
      vmap(x, d, V, [=](f32x16 v) { return vexp((v - m) - ls) * sc; });
      int64_t t = targets[i];
      d[t] = (exp_fast((x[t] - m) - ls) - 1.0f) * sc;
    }
  });
}

void kl_forward(const float* student, const float* teacher, int64_t rows, int64_t V, float inv_tau, float* loss,
                float* s_stats, float* t_stats) {
  parallel_for(0, rows, grain_for(3 * V), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* s = student + i * V;
      const float* t = teacher + i * V;
      float ms = row_max(s, V), ls = row_logsum(s, V, inv_tau, ms);
      float mt = row_max(t, V), lt = row_logsum(t, V, inv_tau, mt);
      // sum p_t (log p_t - log p_s); the log-ratio's two shifts and scales fold into one constant
      // per row. A teacher probability of 0 contributes 0 even where log p_s is -inf.
      double kl = vsum(V, [&](int64_t j) {
        f32x16 lpt = (tail_load(t, j, V) - mt) * inv_tau - lt;
        f32x16 lps = (tail_load(s, j, V) - ms) * inv_tau - ls;
        f32x16 pt = vexp(lpt);
        f32x16 term = pt * (lpt - lps);
        return pt > 0.0f ? term : vsplat(0.0f);
      });
      loss[i] = float(kl);
      s_stats[2 * i] = ms;
      s_stats[2 * i + 1] = ls;
      t_stats[2 * i] = mt;
      t_stats[2 * i + 1] = lt;
    }
  });
}

void kl_backward(const float* student, const float* teacher, const float* s_stats, const float* t_stats,
                 const float* row_scale, int64_t rows, int64_t V, float inv_tau, float* dx) {
  parallel_for(0, rows, grain_for(2 * V), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* s = student + i * V;
      const float* t = teacher + i * V;
      float* d = dx + i * V;
      float sc = row_scale[i];
      if (sc == 0.0f) {
        std::fill(d, d + V, 0.0f);
        continue;
      }
      float ms = s_stats[2 * i], ls = s_stats[2 * i + 1], mt = t_stats[2 * i], lt = t_stats[2 * i + 1];
      vmap2(s, t, d, V, [=](f32x16 sv, f32x16 tv) {
        return (vexp((sv - ms) * inv_tau - ls) - vexp((tv - mt) * inv_tau - lt)) * sc;
      });
    }
  });
}

}  // namespace zebra::cpu
