// matmul and linear: forward against double loops (all transposes, odd sizes, strided views, batch
// broadcasting), the copy-free paths for BLAS-expressible views, gradients, and error cases.
#include <algorithm>

#include "autograd/node.h"
#include "core/allocator.h"
#include "ops/cpu/matmul.h"
#include "ops/matmul.h"
#include "tests/test_util.h"

namespace zebra {
namespace {

using test::all_close;

// Operand shapes for op(a): [batch..., M, K] and op(b): [batch..., K, N] as stored.
Shape a_shape(Shape batch, int64_t M, int64_t K, bool ta) {
  batch.push_back(ta ? K : M);
  batch.push_back(ta ? M : K);
  return batch;
}
Shape b_shape(Shape batch, int64_t K, int64_t N, bool tb) {
  batch.push_back(tb ? N : K);
  batch.push_back(tb ? K : N);
  return batch;
}

// Walks the NumPy-broadcast batch of a and b: fn(out batch index, a batch index, b batch index).
template <class F>
void for_each_batch(const Shape& as, const Shape& bs, F&& fn) {
  Shape ba(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  const size_t r = std::max(ba.size(), bb.size());
  ba.insert(ba.begin(), r - ba.size(), 1);
  bb.insert(bb.begin(), r - bb.size(), 1);
  Shape out(r);
  for (size_t d = 0; d < r; ++d) out[d] = std::max(ba[d], bb[d]);
  for (int64_t o = 0; o < numel(out); ++o) {
    int64_t rem = o, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t d = r; d-- > 0;) {
      const int64_t i = rem % out[d];
      rem /= out[d];
      ia += (ba[d] == 1 ? 0 : i) * sa;
      ib += (bb[d] == 1 ? 0 : i) * sb;
      sa *= ba[d];
      sb *= bb[d];
    }
    fn(o, ia, ib);
  }
}

struct Dims {
  int64_t M, K, N;
};
Dims dims_of(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  return {a.size(ta ? -1 : -2), a.size(ta ? -2 : -1), b.size(tb ? -2 : -1)};
}

// C = op(a) op(b) in double.
std::vector<double> ref_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const std::vector<double> av = a.to_double(), bv = b.to_double();
  const auto [M, K, N] = dims_of(a, b, ta, tb);
  std::vector<double> out;
  for_each_batch(a.shape(), b.shape(), [&](int64_t, int64_t ia, int64_t ib) {
    const double* A = av.data() + ia * M * K;
    const double* B = bv.data() + ib * K * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0.0;
        for (int64_t k = 0; k < K; ++k) s += (ta ? A[k * M + m] : A[m * K + k]) * (tb ? B[n * K + k] : B[k * N + n]);
        out.push_back(s);
      }
  });
  return out;
}

// Gradients of sum(C * g) with respect to a and b, in a's and b's stored layouts, in double.
std::pair<std::vector<double>, std::vector<double>> ref_matmul_grads(const Tensor& a, const Tensor& b, bool ta,
                                                                     bool tb, const Tensor& g) {
  const std::vector<double> av = a.to_double(), bv = b.to_double(), gv = g.to_double();
  const auto [M, K, N] = dims_of(a, b, ta, tb);
  std::vector<double> ga(av.size(), 0.0), gb(bv.size(), 0.0);
  for_each_batch(a.shape(), b.shape(), [&](int64_t o, int64_t ia, int64_t ib) {
    const double* A = av.data() + ia * M * K;
    const double* B = bv.data() + ib * K * N;
    const double* G = gv.data() + o * M * N;
    double* GA = ga.data() + ia * M * K;
    double* GB = gb.data() + ib * K * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
          (ta ? GA[k * M + m] : GA[m * K + k]) += G[m * N + n] * (tb ? B[n * K + k] : B[k * N + n]);
          (tb ? GB[n * K + k] : GB[k * N + n]) += G[m * N + n] * (ta ? A[k * M + m] : A[m * K + k]);
        }
  });
  return {ga, gb};
}

// y = x w^T + bias in double; x: [R, I], w: [O, I].
std::vector<double> ref_linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const std::vector<double> xv = x.to_double(), wv = w.to_double();
  const std::vector<double> bv = bias.defined() ? bias.to_double() : std::vector<double>();
  const int64_t O = w.size(0), I = w.size(1), R = x.numel() / I;
  std::vector<double> out;
  for (int64_t r = 0; r < R; ++r)
    for (int64_t o = 0; o < O; ++o) {
      double s = bv.empty() ? 0.0 : bv[size_t(o)];
      for (int64_t i = 0; i < I; ++i) s += xv[size_t(r * I + i)] * wv[size_t(o * I + i)];
      out.push_back(s);
    }
  return out;
}

// The transpose of a fresh [cols, rows] matrix (batched): a column-major view, no copy.
Tensor transposed_view(const Shape& batch, int64_t rows, int64_t cols, uint64_t seed) {
  Shape base_shape = batch;
  base_shape.push_back(cols);
  base_shape.push_back(rows);
  Tensor base = test::rand(base_shape, seed);
  Shape shape = batch, strides = base.strides();
  shape.push_back(rows);
  shape.push_back(cols);
  std::swap(strides[strides.size() - 1], strides[strides.size() - 2]);
  return base.as_strided(shape, strides, 0);
}

int64_t allocations() { return cpu_allocator().stats().allocations; }

std::string label(bool ta, bool tb) { return std::string(ta ? "T" : "N") + (tb ? "T" : "N"); }

TEST(Matmul, Forward2DAllTransposesOddSizes) {
  const int64_t sizes[] = {1, 3, 7, 33, 65};
  uint64_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t M : sizes)
        for (int64_t K : sizes)
          for (int64_t N : sizes) {
            Tensor a = test::rand(a_shape({}, M, K, ta), seed++);
            Tensor b = test::rand(b_shape({}, K, N, tb), seed++);
            Tensor c = matmul(a, b, ta, tb);
            ASSERT_EQ(c.shape(), (Shape{M, N}));
            EXPECT_TRUE(all_close(c, ref_matmul(a, b, ta, tb), 1e-5, 1e-4))
                << label(ta, tb) << " M=" << M << " K=" << K << " N=" << N;
          }
}

TEST(Matmul, TransposedViewsAreReadInPlace) {
  NoGrad ng;
  const int64_t M = 33, K = 7, N = 13;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      // Each operand is the transpose of a contiguous tensor: column-major in its last two dims.
      const Shape as = a_shape({}, M, K, ta), bs = b_shape({3}, K, N, tb);
      Tensor a = transposed_view({}, as[0], as[1], 11);
      Tensor b = transposed_view({3}, bs[1], bs[2], 12);
      ASSERT_FALSE(a.is_contiguous());
      ASSERT_FALSE(b.is_contiguous());
      EXPECT_TRUE(cpu::gemm_reads_in_place(a));
      EXPECT_TRUE(cpu::gemm_reads_in_place(b));
      const int64_t before = allocations();
      Tensor c = matmul(a, b, ta, tb);
      EXPECT_EQ(allocations() - before, 1) << "only the output is allocated, " << label(ta, tb);
      EXPECT_TRUE(all_close(c, ref_matmul(a, b, ta, tb), 1e-5, 1e-4)) << label(ta, tb);
    }
}

TEST(Matmul, RowSlicesWithLeadingDimensionAreReadInPlace) {
  NoGrad ng;
  // Columns 2..9 of a [5, 13] matrix and rows of a batch sliced out of a wider one: lda > K.
  Tensor wide = test::rand({5, 13}, 21);
  Tensor a = wide.as_strided({5, 7}, {13, 1}, 2);
  Tensor bbase = test::rand({2, 7, 20}, 22);
  Tensor b = bbase.as_strided({2, 7, 3}, {140, 20, 1}, 5);
  EXPECT_TRUE(cpu::gemm_reads_in_place(a));
  EXPECT_TRUE(cpu::gemm_reads_in_place(b));
  const int64_t before = allocations();
  Tensor c = matmul(a, b);
  EXPECT_EQ(allocations() - before, 1);
  EXPECT_TRUE(all_close(c, ref_matmul(a, b, false, false), 1e-5, 1e-4));
}

TEST(Matmul, NonContiguousInputsAreCopiedAndCorrect) {
  NoGrad ng;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = test::noncontig(test::rand(a_shape({2}, 5, 7, ta), 31));
      Tensor b = test::noncontig(test::rand(b_shape({}, 7, 3, tb), 32));
      EXPECT_FALSE(cpu::gemm_reads_in_place(a));
      EXPECT_FALSE(cpu::gemm_reads_in_place(b));
      Tensor c = matmul(a, b, ta, tb);
      ASSERT_EQ(c.shape(), (Shape{2, 5, 3}));
      EXPECT_TRUE(all_close(c, ref_matmul(a, b, ta, tb), 1e-5, 1e-4)) << label(ta, tb);
    }
}

TEST(Matmul, ExpandedOperands) {
  NoGrad ng;
  // A row broadcast down the rows (stride 0 in a matrix dim) cannot go to BLAS as it lies.
  Tensor row = test::rand({1, 7}, 41);
  Tensor a = row.as_strided({5, 7}, {0, 1}, 0);
  EXPECT_FALSE(cpu::gemm_reads_in_place(a));
  Tensor b = test::rand({7, 3}, 42);
  EXPECT_TRUE(all_close(matmul(a, b), ref_matmul(a.contiguous(), b, false, false), 1e-5, 1e-4));
  // A batch dim of stride 0 is fine: the matrices themselves are contiguous.
  Tensor one = test::rand({1, 5, 7}, 43);
  Tensor ab = one.as_strided({4, 5, 7}, {0, 7, 1}, 0);
  Tensor bb = test::rand({4, 7, 3}, 44);
  EXPECT_TRUE(cpu::gemm_reads_in_place(ab));
  EXPECT_TRUE(all_close(matmul(ab, bb), ref_matmul(ab.contiguous(), bb, false, false), 1e-5, 1e-4));
}

TEST(Matmul, BroadcastBatchDims) {
  struct Case {
    Shape ba, bb, out;
  };
  const Case cases[] = {
      {{2, 1}, {3}, {2, 3}},    {{}, {5}, {5}},          {{4}, {}, {4}},        {{1}, {2}, {2}},
      {{3, 1, 2}, {1, 4, 1}, {3, 4, 2}}, {{2, 3}, {2, 3}, {2, 3}}, {{6}, {1}, {6}},
  };
  uint64_t seed = 50;
  for (const Case& cs : cases)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = test::rand(a_shape(cs.ba, 3, 5, ta), seed++);
        Tensor b = test::rand(b_shape(cs.bb, 5, 7, tb), seed++);
        Tensor c = matmul(a, b, ta, tb);
        Shape want = cs.out;
        want.push_back(3);
        want.push_back(7);
        ASSERT_EQ(c.shape(), want) << shape_str(cs.ba) << " x " << shape_str(cs.bb);
        EXPECT_TRUE(all_close(c, ref_matmul(a, b, ta, tb), 1e-5, 1e-4))
            << shape_str(cs.ba) << " x " << shape_str(cs.bb) << " " << label(ta, tb);
      }
}

TEST(Matmul, BatchSlicesThatDoNotFold) {
  NoGrad ng;
  // The first 3 of every 6 rows of a [4, 6, 5] tensor: batch stride 30 is not 3 rows x 5, so the
  // batch cannot fold into M.
  Tensor base = test::rand({4, 6, 5}, 61);
  Tensor a = base.as_strided({4, 3, 5}, {30, 5, 1}, 0);
  Tensor b = test::rand({5, 7}, 62);
  EXPECT_TRUE(all_close(matmul(a, b), ref_matmul(a, b, false, false), 1e-5, 1e-4));
  Tensor bt = test::rand({7, 5}, 63);
  EXPECT_TRUE(all_close(matmul(a, bt, false, true), ref_matmul(a, bt, false, true), 1e-5, 1e-4));
}

TEST(Matmul, SingleRowAndColumnBatches) {
  NoGrad ng;
  // The last row of each [6, 5] block (a decode step's query): a size-1 dim whose stride differs
  // from the batch step, against a shared matrix, a batched one and a batched transposed one.
  Tensor base = test::rand({4, 6, 5}, 64);
  Tensor a = base.as_strided({4, 1, 5}, {30, 5, 1}, 25);
  for (const Shape& bs : {Shape{5, 7}, Shape{4, 5, 7}, Shape{4, 5, 1}}) {
    Tensor b = test::rand(bs, 65);
    EXPECT_TRUE(all_close(matmul(a, b), ref_matmul(a, b, false, false), 1e-5, 1e-4)) << shape_str(bs);
  }
  Tensor bt = test::rand({4, 7, 5}, 66);
  EXPECT_TRUE(all_close(matmul(a, bt, false, true), ref_matmul(a, bt, false, true), 1e-5, 1e-4));
  Tensor col = base.as_strided({4, 6, 1}, {30, 5, 1}, 2);
  Tensor w = test::rand({4, 1, 3}, 67);
  EXPECT_TRUE(all_close(matmul(col, w), ref_matmul(col, w, false, false), 1e-5, 1e-4));
  Tensor shared = test::rand({1, 5}, 68);
  Tensor bb = test::rand({4, 5, 3}, 69);
  EXPECT_TRUE(all_close(matmul(shared, bb), ref_matmul(shared, bb, false, false), 1e-5, 1e-4));
}

TEST(Matmul, EmptyDims) {
  Tensor c = matmul(test::rand({3, 0}, 1), test::rand({0, 4}, 2));
  ASSERT_EQ(c.shape(), (Shape{3, 4}));
  EXPECT_TRUE(all_close(c, std::vector<double>(12, 0.0)));
  EXPECT_EQ(matmul(test::rand({0, 5}, 3), test::rand({5, 4}, 4)).shape(), (Shape{0, 4}));
  EXPECT_EQ(matmul(test::rand({2, 0, 3, 5}, 5), test::rand({5, 4}, 6)).shape(), (Shape{2, 0, 3, 4}));
  Tensor a = test::param(test::rand({3, 0}, 7));
  Tensor b = test::param(test::rand({0, 4}, 8));
  matmul(a, b).backward(test::rand({3, 4}, 9));
  EXPECT_EQ(a.grad().shape(), (Shape{3, 0}));
  EXPECT_EQ(b.grad().shape(), (Shape{0, 4}));
}

TEST(Matmul, Gradcheck2DAllTransposes) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = test::param(test::rand(a_shape({}, 3, 4, ta), 71));
      Tensor b = test::param(test::rand(b_shape({}, 4, 5, tb), 72));
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return matmul(x[0], x[1], ta, tb); },
                       (std::vector<Tensor>{a, b}));
    }
}

TEST(Matmul, GradcheckBroadcastBatch) {
  const std::pair<Shape, Shape> cases[] = {{{2, 1}, {3}}, {{2}, {}}, {{}, {3}}};
  for (auto& [ba, bb] : cases)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = test::param(test::rand(a_shape(ba, 3, 4, ta), 81));
        Tensor b = test::param(test::rand(b_shape(bb, 4, 2, tb), 82));
        EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return matmul(x[0], x[1], ta, tb); },
                         (std::vector<Tensor>{a, b}));
      }
}

TEST(Matmul, BackwardMatchesReferenceOnStridedInputs) {
  // Leaves that are transposed or strided views, a non-contiguous incoming gradient, and a batch that
  // broadcasts both ways; sizes large enough that folding and sgemm blocking both engage.
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Shape as = a_shape({3, 1}, 33, 17, ta), bs = b_shape({4, 1, 1}, 17, 65, tb);
      Tensor a = test::noncontig(test::rand(as, 91));
      Tensor b = transposed_view({4, 1, 1}, bs[3], bs[4], 92);
      a.set_requires_grad(true);
      b.set_requires_grad(true);
      Tensor c = matmul(a, b, ta, tb);
      ASSERT_EQ(c.shape(), (Shape{4, 3, 1, 33, 65}));
      Tensor g = test::noncontig(test::rand(c.shape(), 93));
      c.backward(g);
      auto [ga, gb] = ref_matmul_grads(a, b, ta, tb, g);
      EXPECT_TRUE(all_close(a.grad(), ga, 1e-4, 1e-4)) << label(ta, tb);
      EXPECT_TRUE(all_close(b.grad(), gb, 1e-4, 1e-4)) << label(ta, tb);
    }
}

TEST(Matmul, BackwardFoldsBatchIntoWeightGradient) {
  // [B, T, K] x [K, N]: the b gradient sums over B and T, which gemm folds into one reduction.
  Tensor a = test::param(test::rand({5, 7, 33}, 101));
  Tensor w = test::param(test::rand({33, 13}, 102));
  Tensor c = matmul(a, w);
  Tensor g = test::rand(c.shape(), 103);
  c.backward(g);
  auto [ga, gw] = ref_matmul_grads(a, w, false, false, g);
  EXPECT_TRUE(all_close(a.grad(), ga, 1e-4, 1e-4));
  EXPECT_TRUE(all_close(w.grad(), gw, 1e-4, 1e-4));
}

TEST(Matmul, OnlyRequestedGradients) {
  Tensor a = test::param(test::rand({3, 4}, 111));
  Tensor b = test::rand({4, 5}, 112);
  Tensor g = test::rand({3, 5}, 113);
  matmul(a, b).backward(g);
  EXPECT_FALSE(b.grad().defined());
  EXPECT_TRUE(all_close(a.grad(), ref_matmul_grads(a, b, false, false, g).first, 1e-5, 1e-4));
}

TEST(Matmul, Errors) {
  Tensor a = test::rand({2, 3}, 1), b = test::rand({4, 5}, 2);
  EXPECT_ERROR(matmul(a, b), "matmul: inner dimensions differ: a f32[2, 3] cpu, b f32[4, 5] cpu");
  EXPECT_ERROR(matmul(a, test::rand({4, 2}, 3), false, true), "matmul: inner dimensions differ");
  EXPECT_ERROR(matmul(a, test::rand({3, 5}, 3), true, false), "(transposed)");
  EXPECT_ERROR(matmul(test::rand({3}, 4), b), "matmul: argument 'a' must have rank >= 2, got f32[3] cpu");
  EXPECT_ERROR(matmul(a, test::rand({3}, 5)), "matmul: argument 'b' must have rank >= 2");
  EXPECT_ERROR(matmul(test::rand({2, 2, 3}, 6), test::rand({3, 3, 4}, 7)),
               "matmul: batch dimensions [2] and [3] do not broadcast");
  EXPECT_ERROR(matmul(a.to(DType::F64), test::rand({3, 4}, 8)), "matmul: argument 'a' must be f32");
  EXPECT_ERROR(matmul(a, test::rand({3, 4}, 8).to(DType::I32)), "matmul: argument 'b' must be f32");
  EXPECT_ERROR(matmul(Tensor(), b), "matmul: argument 'a' is an undefined tensor");
}

TEST(Linear, ForwardOddSizesWithAndWithoutBias) {
  uint64_t seed = 200;
  for (int64_t R : {1, 3, 67})
    for (int64_t I : {1, 5, 33})
      for (int64_t O : {1, 7, 65}) {
        Tensor x = test::rand({R, I}, seed++), w = test::rand({O, I}, seed++), bias = test::rand({O}, seed++);
        EXPECT_TRUE(all_close(linear(x, w, bias), ref_linear(x, w, bias), 1e-5, 1e-4))
            << "R=" << R << " I=" << I << " O=" << O;
        EXPECT_TRUE(all_close(linear(x, w), ref_linear(x, w, Tensor()), 1e-5, 1e-4));
      }
}

TEST(Linear, LeadingDimsAndRankOne) {
  Tensor x = test::rand({2, 3, 5}, 211), w = test::rand({7, 5}, 212), bias = test::rand({7}, 213);
  Tensor y = linear(x, w, bias);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 7}));
  EXPECT_TRUE(all_close(y, ref_linear(x, w, bias), 1e-5, 1e-4));
  Tensor v = test::rand({5}, 214);
  Tensor yv = linear(v, w, bias);
  ASSERT_EQ(yv.shape(), (Shape{7}));
  EXPECT_TRUE(all_close(yv, ref_linear(v, w, bias), 1e-5, 1e-4));
  EXPECT_EQ(linear(test::rand({0, 5}, 215), w, bias).shape(), (Shape{0, 7}));
}

TEST(Linear, StridedInputs) {
  NoGrad ng;
  // A weight stored as [in, out] and read through its transpose costs no copy.
  Tensor w = transposed_view({}, 7, 5, 221);
  EXPECT_TRUE(cpu::gemm_reads_in_place(w));
  Tensor x = test::rand({3, 5}, 222), bias = test::rand({7}, 223);
  const int64_t before = allocations();
  Tensor y = linear(x, w, bias);
  EXPECT_EQ(allocations() - before, 1);
  EXPECT_TRUE(all_close(y, ref_linear(x, w.contiguous(), bias), 1e-5, 1e-4));
  Tensor xn = test::noncontig(test::rand({2, 3, 5}, 224));
  Tensor bn = test::noncontig(bias);
  EXPECT_TRUE(all_close(linear(xn, w, bn), ref_linear(xn, w.contiguous(), bias), 1e-5, 1e-4));
}

TEST(Linear, Gradcheck) {
  Tensor x = test::param(test::rand({2, 3, 4}, 231)), w = test::param(test::rand({5, 4}, 232));
  Tensor bias = test::param(test::rand({5}, 233));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); },
                   (std::vector<Tensor>{x, w, bias}));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& t) { return linear(t[0], t[1]); }, (std::vector<Tensor>{x, w}));
  Tensor v = test::param(test::rand({4}, 234));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); },
                   (std::vector<Tensor>{v, w, bias}));
}

TEST(Linear, BackwardMatchesReference) {
  // x: [R, I] strided, g non-contiguous; dx = g w, dw = g^T x, db = column sums of g.
  const int64_t R = 67, I = 33, O = 13;
  Tensor x = test::noncontig(test::rand({R, I}, 241));
  x.set_requires_grad(true);
  Tensor w = test::param(test::rand({O, I}, 242)), bias = test::param(test::rand({O}, 243));
  Tensor y = linear(x, w, bias);
  Tensor g = test::noncontig(test::rand({R, O}, 244));
  y.backward(g);
  const std::vector<double> xv = x.to_double(), wv = w.to_double(), gv = g.to_double();
  std::vector<double> dx(size_t(R * I), 0.0), dw(size_t(O * I), 0.0), db(size_t(O), 0.0);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t o = 0; o < O; ++o) {
      const double gro = gv[size_t(r * O + o)];
      db[size_t(o)] += gro;
      for (int64_t i = 0; i < I; ++i) {
        dx[size_t(r * I + i)] += gro * wv[size_t(o * I + i)];
        dw[size_t(o * I + i)] += gro * xv[size_t(r * I + i)];
      }
    }
  EXPECT_TRUE(all_close(x.grad(), dx, 1e-4, 1e-4));
  EXPECT_TRUE(all_close(w.grad(), dw, 1e-4, 1e-4));
  EXPECT_TRUE(all_close(bias.grad(), db, 1e-4, 1e-4));
}

TEST(Linear, Errors) {
  Tensor x = test::rand({2, 3}, 1), w = test::rand({4, 5}, 2);
  EXPECT_ERROR(linear(x, w), "linear: x f32[2, 3] cpu has 3 input features but weight f32[4, 5] cpu expects 5");
  EXPECT_ERROR(linear(x, test::rand({4, 3}, 3), test::rand({5}, 4)), "linear: bias f32[5] cpu must be [4]");
  EXPECT_ERROR(linear(x, test::rand({4, 3}, 3), test::rand({1, 4}, 4)), "linear: bias f32[1, 4] cpu must be [4]");
  EXPECT_ERROR(linear(x, test::rand({3}, 5)), "linear: argument 'weight' must have rank 2");
  EXPECT_ERROR(linear(Tensor::scalar(1.0), w), "linear: argument 'x' must have rank >= 1");
  EXPECT_ERROR(linear(x.to(DType::F64), test::rand({4, 3}, 6)), "linear: argument 'x' must be f32");
  EXPECT_ERROR(linear(x, test::rand({4, 3}, 6), test::rand({4}, 7).to(DType::F64)),
               "linear: argument 'bias' must be f32");
  EXPECT_ERROR(linear(x, Tensor()), "linear: argument 'weight' is an undefined tensor");
}

}  // namespace
}  // namespace zebra
