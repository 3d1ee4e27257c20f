#include "ops/cpu/attention.h"
#include "ops/cpu/vec_math.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/threadpool.h"

namespace zebra::cpu {

AttentionBlocks& attention_blocks() {
  static AttentionBlocks blocks;
  return blocks;
}

namespace {

// Register tile of the block products: kTileR rows x kTileC columns of f32 accumulators, i.e. 8
// vector registers either way (zmm with AVX-512, pairs of ymm without), leaving room for operands.
#ifdef __AVX512F__
constexpr int64_t kTileR = 8;
#else
constexpr int64_t kTileR = 4;
#endif
constexpr int64_t kTileC = 16;
static_assert(kTileC % kTileR == 0, "key blocks are padded to kTileC and tiled by kTileR rows");

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Row (i0, i1, i2) of a rank-4 f32 view whose last axis has unit stride.
struct Rows {
  const float* base;
  int64_t s0, s1, s2;
  explicit Rows(const Tensor& t) : base(t.data<float>()), s0(t.strides()[0]), s1(t.strides()[1]), s2(t.strides()[2]) {}
  const float* at(int64_t i0, int64_t i1, int64_t i2) const { return base + i0 * s0 + i1 * s1 + i2 * s2; }
};

struct Dims {
  int64_t B, T, S, H, G, Dk, Dv;
  int64_t rep;       // query heads per kv head
  int64_t offset;    // S - T: absolute position of query 0
  int64_t br, bc;    // block sizes (query rows, keys)
  int64_t brp, bcp;  // the same padded to whole tiles
  int64_t dkp, dvp;  // head dims padded to whole tiles
};

Dims dims_of(const Tensor& q, const Tensor& k, const Tensor& v) {
  Dims d{};
  d.B = q.size(0);
  d.T = q.size(1);
  d.H = q.size(2);
  d.Dk = q.size(3);
  d.S = k.size(1);
  d.G = k.size(2);
  d.Dv = v.size(3);
  d.rep = d.H / d.G;
  d.offset = d.S - d.T;
  d.br = std::max<int64_t>(1, attention_blocks().q);
  d.bc = std::max<int64_t>(1, attention_blocks().kv);
  d.brp = round_up(d.br, kTileR);
  d.bcp = round_up(d.bc, kTileC);
  d.dkp = round_up(d.Dk, kTileC);
  d.dvp = round_up(d.Dv, kTileC);
  return d;
}

// Zero-filled per-thread buffers, allocated through the tensor allocator so its stats see them.
class Scratch {
 public:
  template <class T = float>
  T* take(int64_t n) {
    bufs_.push_back(Tensor::zeros({n}, DTypeOf<T>::value));
    return bufs_.back().data<T>();
  }

 private:
  std::vector<Tensor> bufs_;
};

// Causal work grows (forward, dq) or shrinks (dk/dv) with the block index; visiting blocks as
// 0, n-1, 1, n-2, ... gives every contiguous range of tasks a similar share of it.
int64_t zigzag(int64_t i, int64_t n) { return i % 2 == 0 ? i / 2 : n - 1 - i / 2; }

// p[c] = e^(p[c] - shift) for c < n.
inline void exp_shifted(float* __restrict p, int64_t n, float shift) {
  vmap(p, p, n, [shift](f32x16 v) { return vexp(v - shift); });
}

// One row of a tile as a GCC/clang vector: explicit, because the auto-vectoriser prefers to
// vectorise tile()'s k loop with shuffles instead of keeping the accumulators in registers.
typedef float TileRow __attribute__((vector_size(kTileC * sizeof(float))));

inline TileRow load_row(const float* p) {
  TileRow v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// c: [kTileR, kTileC] += a: [kTileR, K] * b: [K, kTileC] with the accumulator in registers.
inline void tile(const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb, int64_t K,
                 float* __restrict c, int64_t ldc) {
  TileRow acc[kTileR];
  for (int64_t r = 0; r < kTileR; ++r) acc[r] = load_row(c + r * ldc);
  for (int64_t k = 0; k < K; ++k) {
    const TileRow bk = load_row(b + k * ldb);
    for (int64_t r = 0; r < kTileR; ++r) acc[r] += a[r * lda + k] * bk;
  }
  for (int64_t r = 0; r < kTileR; ++r) std::memcpy(c + r * ldc, &acc[r], sizeof(TileRow));
}

// c: [M, N] += a: [M, K] * b: [K, N] on padded buffers: M a multiple of kTileR, N of kTileC.
void gemm_acc(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N,
              int64_t K) {
  for (int64_t i = 0; i < M; i += kTileR)
    for (int64_t j = 0; j < N; j += kTileC) tile(a + i * lda, lda, b + j, ldb, K, c + i * ldc + j, ldc);
}

// dst: [n, ld] <- rows row(0..n) of D elements, times mul.
template <class RowFn>
void gather_rows(RowFn row, int64_t n, int64_t D, float mul, float* __restrict dst, int64_t ld) {
  for (int64_t i = 0; i < n; ++i) {
    const float* __restrict src = row(i);
    for (int64_t e = 0; e < D; ++e) dst[i * ld + e] = src[e] * mul;
  }
}

// dst: [D, ld] <- rows row(0..n) transposed, so one block product streams contiguous keys.
template <class RowFn>
void gather_cols(RowFn row, int64_t n, int64_t D, float* __restrict dst, int64_t ld) {
  for (int64_t i = 0; i < n; ++i) {
    const float* __restrict src = row(i);
    for (int64_t e = 0; e < D; ++e) dst[e * ld + i] = src[e];
  }
}

// dst: [cols, ld] <- src: [rows, lds] transposed.
void transpose(const float* __restrict src, int64_t lds, int64_t rows, int64_t cols, float* __restrict dst,
               int64_t ld) {
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r) dst[c * ld + r] = src[r * lds + c];
}

// Keys of block [j0, j0 + nc) visible to the query at absolute position p (0 when none).
inline int64_t visible(int64_t p, int64_t j0, int64_t nc) { return std::clamp<int64_t>(p - j0 + 1, 0, nc); }

// One query block (rows t0 .. t0+nr-1 of one head) against one key block [j0, j0+nc), as both
// backward passes need it. qs: [brp, dkp] scaled queries, dob: [brp, dvp] output gradients,
// kt: [Dk, bcp], vt: [Dv, bcp], lse / delta: the head's [T] rows.
// p, ds: [brp, bcp] <- P = exp(qs kt - lse) and dS = P * (dob vt - delta), zero where masked.
void probs_and_dscores(const Dims& d, const float* qs, const float* dob, const float* kt, const float* vt,
                       const float* lse, const float* delta, int64_t t0, int64_t nr, int64_t j0, int64_t nc, float* p,
                       float* ds) {
  const int64_t mr = round_up(nr, kTileR), ncp = round_up(nc, kTileC);
  std::fill(p, p + mr * d.bcp, 0.0f);
  std::fill(ds, ds + mr * d.bcp, 0.0f);
  gemm_acc(qs, d.dkp, kt, d.bcp, p, d.bcp, mr, ncp, d.Dk);
  gemm_acc(dob, d.dvp, vt, d.bcp, ds, d.bcp, mr, ncp, d.Dv);
  for (int64_t r = 0; r < mr; ++r) {
    const int64_t n = r < nr ? visible(d.offset + t0 + r, j0, nc) : 0;
    float* __restrict pr = p + r * d.bcp;
    float* __restrict dr = ds + r * d.bcp;
    if (n > 0) {
      exp_shifted(pr, n, lse[t0 + r]);
      const float dl = delta[t0 + r];
      for (int64_t c = 0; c < n; ++c) dr[c] = pr[c] * (dr[c] - dl);
    }
    std::fill(pr + n, pr + ncp, 0.0f);
    std::fill(dr + n, dr + ncp, 0.0f);
  }
}

}  // namespace

AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, float scale) {
  const Dims d = dims_of(q, k, v);
  AttentionForward res{Tensor::empty({d.B, d.T, d.H, d.Dv}), Tensor::empty({d.B, d.H, d.T})};
  const Rows Q(q), K(k), V(v);
  float* out = res.out.data<float>();
  float* lse = res.lse.data<float>();
  const int64_t nqb = (d.T + d.br - 1) / d.br;
  // One task per (b, h, query block); each walks the key blocks its rows can see.
  parallel_for(0, d.B * d.H * nqb, 1, [&](int64_t lo, int64_t hi) {
    Scratch scratch;
    float* qs = scratch.take(d.brp * d.dkp);   // [brp, dkp] queries times scale
    float* kt = scratch.take(d.Dk * d.bcp);    // [Dk, bcp] key block transposed
    float* vb = scratch.take(d.bcp * d.dvp);   // [bcp, dvp] value block
    float* p = scratch.take(d.brp * d.bcp);    // [brp, bcp] scores, then probabilities
    float* acc = scratch.take(d.brp * d.dvp);  // [brp, dvp] unnormalised output
    float* m = scratch.take(d.brp);            // running max per row
    double* l = scratch.take<double>(d.brp);   // running sum per row
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t qb = zigzag(task % nqb, nqb), bh = task / nqb, b = bh / d.H, h = bh % d.H, g = h / d.rep;
      const int64_t t0 = qb * d.br, nr = std::min(d.br, d.T - t0), mr = round_up(nr, kTileR);
      const int64_t kend = d.offset + t0 + nr;  // the block's last row sees keys [0, kend)
      gather_rows([&](int64_t i) { return Q.at(b, t0 + i, h); }, nr, d.Dk, scale, qs, d.dkp);
      std::fill(m, m + nr, -std::numeric_limits<float>::infinity());
      std::fill(l, l + nr, 0.0);
      std::fill(acc, acc + mr * d.dvp, 0.0f);
      for (int64_t j0 = 0; j0 < kend; j0 += d.bc) {
        const int64_t nc = std::min(d.bc, kend - j0);
        gather_cols([&](int64_t i) { return K.at(b, j0 + i, g); }, nc, d.Dk, kt, d.bcp);
        gather_rows([&](int64_t i) { return V.at(b, j0 + i, g); }, nc, d.Dv, 1.0f, vb, d.dvp);
        std::fill(p, p + mr * d.bcp, 0.0f);
        gemm_acc(qs, d.dkp, kt, d.bcp, p, d.bcp, mr, round_up(nc, kTileC), d.Dk);
        for (int64_t r = 0; r < mr; ++r) {
          float* pr = p + r * d.bcp;
          const int64_t n = r < nr ? visible(d.offset + t0 + r, j0, nc) : 0;
          if (n > 0) {
            float mx = m[r];
            for (int64_t c = 0; c < n; ++c) mx = std::max(mx, pr[c]);
            exp_shifted(pr, n, mx);
            double sum = 0.0;
            for (int64_t c = 0; c < n; ++c) sum += pr[c];
            // Rescale what earlier blocks accumulated to the new running max (0 on the first block).
            const float corr = std::exp(m[r] - mx);
            if (corr != 1.0f)
              for (int64_t e = 0; e < d.Dv; ++e) acc[r * d.dvp + e] *= corr;
            l[r] = l[r] * corr + sum;
            m[r] = mx;
          }
          std::fill(pr + n, pr + nc, 0.0f);
        }
        gemm_acc(p, d.bcp, vb, d.dvp, acc, d.dvp, mr, d.dvp, nc);
      }
      for (int64_t r = 0; r < nr; ++r) {
        const float inv = float(1.0 / l[r]);
        float* orow = out + ((b * d.T + t0 + r) * d.H + h) * d.Dv;
        for (int64_t e = 0; e < d.Dv; ++e) orow[e] = acc[r * d.dvp + e] * inv;
        lse[bh * d.T + t0 + r] = m[r] + float(std::log(l[r]));
      }
    }
  });
  return res;
}

AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse_t, const Tensor& dout, float scale, bool need_dq, bool need_dkv) {
  const Dims d = dims_of(q, k, v);
  AttentionGrads res;
  if (need_dq) res.dq = Tensor::empty(q.shape());
  if (need_dkv) {
    res.dk = Tensor::zeros(k.shape());
    res.dv = Tensor::zeros(v.shape());
  }
  if (d.B * d.H * d.T == 0 || (!need_dq && !need_dkv)) return res;
  const Rows Q(q), K(k), V(v), DO(dout);
  const float* lse = lse_t.data<float>();

  // delta: [B, H, T] = rowsum(dO * O), the softmax backward's correction term for every row.
  Tensor delta_t = Tensor::empty({d.B, d.H, d.T});
  float* delta = delta_t.data<float>();
  const float* o = out.data<float>();
  parallel_for(0, d.B * d.T, std::max<int64_t>(1, 4096 / (d.H * d.Dv + 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t bt = lo; bt < hi; ++bt) {
      const int64_t b = bt / d.T, t = bt % d.T;
      for (int64_t h = 0; h < d.H; ++h) {
        const float* dor = DO.at(b, t, h);
        const float* orow = o + (bt * d.H + h) * d.Dv;
        double acc = 0.0;
        for (int64_t e = 0; e < d.Dv; ++e) acc += double(dor[e]) * double(orow[e]);
        delta[(b * d.H + h) * d.T + t] = float(acc);
      }
    }
  });

  if (need_dkv) {
    // One task per (b, g, key block) owns those rows of dk and dv, summing over its H / G heads.
    const int64_t nkb = (d.S + d.bc - 1) / d.bc;
    float* dk = res.dk.data<float>();
    float* dv = res.dv.data<float>();
    parallel_for(0, d.B * d.G * nkb, 1, [&](int64_t lo, int64_t hi) {
      Scratch scratch;
      float* kt = scratch.take(d.Dk * d.bcp);    // [Dk, bcp]
      float* vt = scratch.take(d.Dv * d.bcp);    // [Dv, bcp]
      float* qs = scratch.take(d.brp * d.dkp);   // [brp, dkp] queries times scale
      float* dob = scratch.take(d.brp * d.dvp);  // [brp, dvp]
      float* p = scratch.take(d.brp * d.bcp);    // [brp, bcp]
      float* ds = scratch.take(d.brp * d.bcp);   // [brp, bcp]
      float* pt = scratch.take(d.bcp * d.brp);   // [bcp, brp] p transposed
      float* dst = scratch.take(d.bcp * d.brp);  // [bcp, brp] ds transposed
      float* dka = scratch.take(d.bcp * d.dkp);  // [bcp, dkp]
      float* dva = scratch.take(d.bcp * d.dvp);  // [bcp, dvp]
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t kb = zigzag(task % nkb, nkb), bg = task / nkb, b = bg / d.G, g = bg % d.G;
        const int64_t j0 = kb * d.bc, nc = std::min(d.bc, d.S - j0), mc = round_up(nc, kTileR);
        gather_cols([&](int64_t i) { return K.at(b, j0 + i, g); }, nc, d.Dk, kt, d.bcp);
        gather_cols([&](int64_t i) { return V.at(b, j0 + i, g); }, nc, d.Dv, vt, d.bcp);
        std::fill(dka, dka + mc * d.dkp, 0.0f);
        std::fill(dva, dva + mc * d.dvp, 0.0f);
        const int64_t tstart = std::max<int64_t>(0, j0 - d.offset);  // earlier queries see none of the block
        for (int64_t h = g * d.rep; h < (g + 1) * d.rep; ++h) {
          const int64_t row0 = (b * d.H + h) * d.T;
          for (int64_t t0 = tstart; t0 < d.T; t0 += d.br) {
            const int64_t nr = std::min(d.br, d.T - t0);
            gather_rows([&](int64_t i) { return Q.at(b, t0 + i, h); }, nr, d.Dk, scale, qs, d.dkp);
            gather_rows([&](int64_t i) { return DO.at(b, t0 + i, h); }, nr, d.Dv, 1.0f, dob, d.dvp);
            probs_and_dscores(d, qs, dob, kt, vt, lse + row0, delta + row0, t0, nr, j0, nc, p, ds);
            transpose(p, d.bcp, nr, mc, pt, d.brp);
            transpose(ds, d.bcp, nr, mc, dst, d.brp);
            gemm_acc(pt, d.brp, dob, d.dvp, dva, d.dvp, mc, d.dvp, nr);  // dV += P^T dO
            gemm_acc(dst, d.brp, qs, d.dkp, dka, d.dkp, mc, d.dkp, nr);  // dK += dS^T Q scale
          }
        }
        for (int64_t c = 0; c < nc; ++c) {
          std::copy(dka + c * d.dkp, dka + c * d.dkp + d.Dk, dk + ((b * d.S + j0 + c) * d.G + g) * d.Dk);
          std::copy(dva + c * d.dvp, dva + c * d.dvp + d.Dv, dv + ((b * d.S + j0 + c) * d.G + g) * d.Dv);
        }
      }
    });
  }

  if (need_dq) {
    // One task per (b, h, query block) owns those rows of dq.
    const int64_t nqb = (d.T + d.br - 1) / d.br;
    float* dq = res.dq.data<float>();
    parallel_for(0, d.B * d.H * nqb, 1, [&](int64_t lo, int64_t hi) {
      Scratch scratch;
      float* qs = scratch.take(d.brp * d.dkp);   // [brp, dkp] queries times scale
      float* dob = scratch.take(d.brp * d.dvp);  // [brp, dvp]
      float* kt = scratch.take(d.Dk * d.bcp);    // [Dk, bcp]
      float* vt = scratch.take(d.Dv * d.bcp);    // [Dv, bcp]
      float* kb = scratch.take(d.bcp * d.dkp);   // [bcp, dkp] key block
      float* p = scratch.take(d.brp * d.bcp);    // [brp, bcp]
      float* ds = scratch.take(d.brp * d.bcp);   // [brp, bcp]
      float* dqa = scratch.take(d.brp * d.dkp);  // [brp, dkp] dS K, before the scale
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t qb = zigzag(task % nqb, nqb), bh = task / nqb, b = bh / d.H, h = bh % d.H, g = h / d.rep;
        const int64_t t0 = qb * d.br, nr = std::min(d.br, d.T - t0), mr = round_up(nr, kTileR);
        const int64_t kend = d.offset + t0 + nr;
        gather_rows([&](int64_t i) { return Q.at(b, t0 + i, h); }, nr, d.Dk, scale, qs, d.dkp);
        gather_rows([&](int64_t i) { return DO.at(b, t0 + i, h); }, nr, d.Dv, 1.0f, dob, d.dvp);
        std::fill(dqa, dqa + mr * d.dkp, 0.0f);
        for (int64_t j0 = 0; j0 < kend; j0 += d.bc) {
          const int64_t nc = std::min(d.bc, kend - j0);
          const auto key = [&](int64_t i) { return K.at(b, j0 + i, g); };
          gather_cols(key, nc, d.Dk, kt, d.bcp);
          gather_cols([&](int64_t i) { return V.at(b, j0 + i, g); }, nc, d.Dv, vt, d.bcp);
          gather_rows(key, nc, d.Dk, 1.0f, kb, d.dkp);
          probs_and_dscores(d, qs, dob, kt, vt, lse + bh * d.T, delta + bh * d.T, t0, nr, j0, nc, p, ds);
          gemm_acc(ds, d.bcp, kb, d.dkp, dqa, d.dkp, mr, d.dkp, nc);
        }
        for (int64_t r = 0; r < nr; ++r) {
          float* dqr = dq + ((b * d.T + t0 + r) * d.H + h) * d.Dk;
          for (int64_t e = 0; e < d.Dk; ++e) dqr[e] = dqa[r * d.dkp + e] * scale;
        }
      }
    });
  }
  return res;
}

}  // namespace zebra::cpu
