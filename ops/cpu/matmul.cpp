#include "ops/cpu/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "core/threadpool.h"

namespace zebra::cpu {

namespace {

// A strided matrix view; strides in elements.
struct Mat {
  int64_t rows, cols, rs, cs;
};

// How row-major sgemm reads a matrix: as stored (NoTrans), or as the transpose of a row-major
// [cols, rows] matrix (Trans, i.e. column-major), with leading dimension ld.
struct BlasView {
  CBLAS_TRANSPOSE trans;
  int64_t ld;
};

constexpr int64_t kBlasMax = std::numeric_limits<blasint>::max();

// A dimension of size 1 has no meaningful stride, so it never rules a layout out.
std::optional<BlasView> blas_view(const Mat& m) {
  const int64_t min_row_ld = std::max<int64_t>(m.cols, 1), min_col_ld = std::max<int64_t>(m.rows, 1);
  if (m.cols == 1 || m.cs == 1) {
    int64_t ld = m.rows == 1 ? min_row_ld : m.rs;
    if (ld >= min_row_ld && ld <= kBlasMax) return BlasView{CblasNoTrans, ld};
  }
  if (m.rows == 1 || m.rs == 1) {
    int64_t ld = m.cols == 1 ? min_col_ld : m.cs;
    if (ld >= min_col_ld && ld <= kBlasMax) return BlasView{CblasTrans, ld};
  }
  return std::nullopt;
}

// op(t) as a matrix: the last two dims, swapped when trans.
Mat mat_of(const Tensor& t, bool trans) {
  const size_t r = size_t(t.dim());
  Mat m{t.shape()[r - 2], t.shape()[r - 1], t.strides()[r - 2], t.strides()[r - 1]};
  if (trans) {
    std::swap(m.rows, m.cols);
    std::swap(m.rs, m.cs);
  }
  return m;
}

Shape batch_shape(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }
Shape batch_strides(const Tensor& t) { return Shape(t.strides().begin(), t.strides().end() - 2); }

// C: [M, N] = A: [M, K] · B: [K, N], each a strided view.
struct Problem {
  Mat A, B, C;
  bool valid() const {
    auto c = blas_view(C);
    return blas_view(A) && blas_view(B) && c && c->trans == CblasNoTrans;
  }
};

// Grows a run of n items with stride st by a batch dim of size s and stride x: possible when the
// batch step lands right after the run. A run of one item takes the batch stride as its own.
bool extend(int64_t& n, int64_t& st, int64_t s, int64_t x) {
  if (n != 1 && x != n * st) return false;
  if (n == 1) st = x;
  n *= s;
  return true;
}

// Folds one batch dim (size s; strides xa, xb, xo in a, b, out) into M, N or K, so that one sgemm
// covers it: into M when b is broadcast along it (e.g. [B, T, D] · [D, N]), into N when a is, into K
// when out is (the weight gradient summed over the batch).
bool fold(Problem& p, int64_t s, int64_t xa, int64_t xb, int64_t xo) {
  auto attempt = [&](auto&& grow) {
    Problem q = p;
    if (!grow(q) || !q.valid()) return false;
    p = q;
    return true;
  };
  return attempt([&](Problem& q) {
           return xb == 0 && extend(q.A.rows, q.A.rs, s, xa) && extend(q.C.rows, q.C.rs, s, xo);
         }) ||
         attempt([&](Problem& q) {
           return xa == 0 && extend(q.B.cols, q.B.cs, s, xb) && extend(q.C.cols, q.C.cs, s, xo);
         }) ||
         attempt([&](Problem& q) {
           return xo == 0 && extend(q.A.cols, q.A.cs, s, xa) && extend(q.B.rows, q.B.rs, s, xb);
         });
}

}  // namespace

bool gemm_reads_in_place(const Tensor& t) { return t.dim() >= 2 && blas_view(mat_of(t, false)).has_value(); }

void gemm(const Tensor& a_in, bool trans_a, const Tensor& b_in, bool trans_b, const Tensor& out, bool accumulate) {
  const Tensor a = gemm_reads_in_place(a_in) ? a_in : a_in.contiguous();
  const Tensor b = gemm_reads_in_place(b_in) ? b_in : b_in.contiguous();
  Problem p{mat_of(a, trans_a), mat_of(b, trans_b), mat_of(out, false)};
  ZCHECK(p.A.cols == p.B.rows && p.A.rows == p.C.rows && p.B.cols == p.C.cols, "gemm: shapes do not chain: a ",
         a.summary(), ", b ", b.summary(), ", out ", out.summary());
  ZCHECK(p.valid(), "gemm: out ", out.summary(), " is not row-major in its last two dims");

  Shape full = broadcast_shapes(broadcast_shapes(batch_shape(a), batch_shape(b), "gemm"), batch_shape(out), "gemm");
  const Shape fa = broadcast_strides(batch_shape(a), batch_strides(a), full);
  const Shape fb = broadcast_strides(batch_shape(b), batch_strides(b), full);
  const Shape fo = broadcast_strides(batch_shape(out), batch_strides(out), full);
  if (out.numel() == 0) return;
  if (p.A.cols == 0 || numel(full) == 0) {
    if (!accumulate) Tensor(out).zero_();
    return;
  }

  // Drop unit dims, then fold batch dims into the matrices from the innermost out while they lie evenly.
  Shape loop, sa, sb, so;
  for (size_t d = 0; d < full.size(); ++d) {
    if (full[d] == 1) continue;
    loop.push_back(full[d]);
    sa.push_back(fa[d]);
    sb.push_back(fb[d]);
    so.push_back(fo[d]);
  }
  while (!loop.empty() && fold(p, loop.back(), sa.back(), sb.back(), so.back())) {
    loop.pop_back();
    sa.pop_back();
    sb.pop_back();
    so.pop_back();
  }
  const BlasView va = *blas_view(p.A), vb = *blas_view(p.B), vc = *blas_view(p.C);
  const int64_t M = p.C.rows, N = p.C.cols, K = p.A.cols;
  ZCHECK(M <= kBlasMax && N <= kBlasMax && K <= kBlasMax, "gemm: [", M, ", ", K, "] x [", K, ", ", N,
         "] exceeds the BLAS integer range");

  // Batch dims left over with a zero out stride are summed into out by sgemm's beta.
  const bool reduces = std::find(so.begin(), so.end(), 0) != so.end();
  if (reduces && !accumulate) Tensor(out).zero_();
  const float beta = accumulate || reduces ? 1.0f : 0.0f;

  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  const int64_t batches = numel(loop);
  std::vector<int64_t> idx(loop.size(), 0);
  int64_t oa = 0, ob = 0, oo = 0;
  // OpenBLAS parallelises each call itself; the batch loop stays serial so the two never nest.
  for (int64_t i = 0; i < batches; ++i) {
    cblas_sgemm(CblasRowMajor, va.trans, vb.trans, blasint(M), blasint(N), blasint(K), 1.0f, pa + oa, blasint(va.ld),
                pb + ob, blasint(vb.ld), beta, po + oo, blasint(vc.ld));
    for (size_t d = loop.size(); d-- > 0;) {
      if (++idx[d] < loop[d]) {
        oa += sa[d];
        ob += sb[d];
        oo += so[d];
        break;
      }
      oa -= sa[d] * (loop[d] - 1);
      ob -= sb[d] * (loop[d] - 1);
      oo -= so[d] * (loop[d] - 1);
      idx[d] = 0;
    }
  }
}

Tensor as_row_matrix(const Tensor& t) {
  if (t.dim() != 1) return t;
  return t.as_strided({1, t.size(0)}, {t.size(0), t.strides()[0]}, t.offset());
}

Tensor linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const int64_t O = weight.size(0);
  Shape shape = x.shape();
  shape.back() = O;
  Tensor out = Tensor::empty(shape);
  if (bias.defined() && out.numel() > 0) {
    // out: [R, O]; bias: [O]
    const Tensor bc = bias.contiguous();
    const float* bp = bc.data<float>();
    float* op = out.data<float>();
    parallel_for(0, out.numel() / O, std::max<int64_t>(1, (int64_t(1) << 14) / O), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) std::memcpy(op + r * O, bp, size_t(O) * sizeof(float));
    });
  }
  gemm(as_row_matrix(x), false, weight, true, as_row_matrix(out), bias.defined());
  return out;
}

}  // namespace zebra::cpu
