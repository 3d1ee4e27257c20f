// Shape ops: values against index-mapping references, view-vs-copy behaviour, gradients (alone and
// through chains), and every error path.
#include <functional>
#include <limits>

#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "tests/test_util.h"

using namespace zebra;
using namespace zebra::test;

namespace {

using Index = std::vector<int64_t>;

Index unravel(int64_t f, const Shape& s) {
  Index idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = f % s[d];
    f /= s[d];
  }
  return idx;
}

int64_t ravel(const Index& idx, const Shape& s) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + idx[d];
  return f;
}

// out[i] = x[map(index of i in out_shape)], x read in row-major order.
std::vector<double> gather(const Tensor& x, const Shape& out_shape, const std::function<Index(const Index&)>& map) {
  std::vector<double> v = x.to_double(), out;
  for (int64_t f = 0; f < numel(out_shape); ++f) out.push_back(v[size_t(ravel(map(unravel(f, out_shape)), x.shape()))]);
  return out;
}

bool shares_storage(const Tensor& a, const Tensor& b) { return a.impl().storage == b.impl().storage; }

const int64_t kEnd = std::numeric_limits<int64_t>::max();

}  // namespace

TEST(Reshape, ContiguousIsAViewWithInferredAxis) {
  Tensor x = rand({3, 5, 7}, 1);
  Tensor y = reshape(x, {5, -1});
  EXPECT_EQ(y.shape(), (Shape{5, 21}));
  EXPECT_TRUE(shares_storage(x, y));
  EXPECT_TRUE(all_close(y, x.to_double(), 0, 0));
  Tensor s = reshape(Tensor::full({1, 1}, 4.5), {});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item(), 4.5);
  EXPECT_EQ(reshape(s, {1, 1, 1}).shape(), (Shape{1, 1, 1}));
}

TEST(Reshape, NonContiguousViewsWhenStridesAllowElseCopies) {
  // x^T: [7, 15] with strides [1, 7]; splitting the 15 axis keeps a view, merging both cannot.
  Tensor x = rand({15, 7}, 2);
  Tensor t = transpose(x, 0, 1);
  Tensor split_view = reshape(t, {7, 3, 5});
  EXPECT_TRUE(shares_storage(x, split_view));
  EXPECT_TRUE(all_close(split_view, gather(x, {7, 3, 5}, [](const Index& i) { return Index{i[1] * 5 + i[2], i[0]}; }),
                        0, 0));
  Tensor merged = reshape(t, {-1});
  EXPECT_FALSE(shares_storage(x, merged));
  EXPECT_TRUE(merged.is_contiguous());
  EXPECT_TRUE(all_close(merged, gather(x, {105}, [](const Index& i) { return Index{i[0] % 15, i[0] / 15}; }), 0, 0));

  Tensor nc = noncontig(rand({3, 13}, 3));
  EXPECT_TRUE(all_close(reshape(nc, {13, 3}), nc.to_double(), 0, 0));
  // A stride-0 (expanded) tensor regrouped along its broadcast axis is still a view.
  Tensor e = expand(rand({1, 6}, 4), {4, 6});
  Tensor er = reshape(e, {2, 2, 3, 2});
  EXPECT_TRUE(shares_storage(e, er));
  EXPECT_TRUE(all_close(er, e.to_double(), 0, 0));
}

TEST(Reshape, Gradient) {
  Tensor x = param(rand({3, 4, 5}, 5));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return reshape(in[0], {4, -1, 3}); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return reshape(transpose(in[0], 0, 2), {-1}); }, {x});
}

TEST(Reshape, Errors) {
  Tensor x = Tensor::zeros({3, 4});
  EXPECT_ERROR(reshape(x, {-1, -1}), "more than one -1");
  EXPECT_ERROR(reshape(x, {5, -1}), "cannot infer -1");
  EXPECT_ERROR(reshape(Tensor::zeros({0, 4}), {0, -1}), "cannot infer -1");
  EXPECT_ERROR(reshape(x, {5, 2}), "has 10 elements");
  EXPECT_ERROR(reshape(x, {-2, -6}), "negative size -2");
  EXPECT_ERROR(reshape(Tensor(), {1}), "undefined");
}

TEST(Permute, ValuesOnContiguousAndStridedInputs) {
  for (bool nc : {false, true}) {
    Tensor x = rand({3, 5, 7}, 6);
    if (nc) x = noncontig(x);
    Tensor p = permute(x, {2, 0, 1});
    EXPECT_EQ(p.shape(), (Shape{7, 3, 5}));
    EXPECT_TRUE(shares_storage(x, p));
    EXPECT_TRUE(all_close(p, gather(x, p.shape(), [](const Index& i) { return Index{i[1], i[2], i[0]}; }), 0, 0));
    Tensor t = transpose(x, -1, 0);
    EXPECT_TRUE(all_close(t, gather(x, {7, 5, 3}, [](const Index& i) { return Index{i[2], i[1], i[0]}; }), 0, 0));
    Tensor n = permute(x, {-2, -1, -3});
    EXPECT_TRUE(all_close(n, gather(x, {5, 7, 3}, [](const Index& i) { return Index{i[2], i[0], i[1]}; }), 0, 0));
  }
}

TEST(Permute, Gradient) {
  Tensor x = param(rand({2, 3, 4}, 7));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return permute(in[0], {1, 2, 0}); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return transpose(in[0], 0, 2); }, {x});
}

TEST(Permute, Errors) {
  Tensor x = Tensor::zeros({2, 3, 4});
  EXPECT_ERROR(permute(x, {0, 1}), "permute: 2 axes");
  EXPECT_ERROR(permute(x, {0, 1, 1}), "repeated");
  EXPECT_ERROR(permute(x, {0, 1, -2}), "axis -2 repeated");
  EXPECT_ERROR(permute(x, {0, 1, 3}), "out of range");
  EXPECT_ERROR(transpose(x, 0, 3), "transpose: axes (0, 3) out of range");
  EXPECT_ERROR(transpose(x, -4, 0), "out of range");
}

TEST(Squeeze, UnsqueezeAndSqueeze) {
  Tensor x = noncontig(rand({3, 5}, 8));
  for (int64_t axis : {0, 1, 2, -1, -3}) {
    Tensor u = unsqueeze(x, axis);
    int64_t a = axis < 0 ? axis + 3 : axis;
    Shape want = {3, 5};
    want.insert(want.begin() + a, 1);
    EXPECT_EQ(u.shape(), want) << axis;
    EXPECT_TRUE(shares_storage(x, u));
    EXPECT_TRUE(all_close(u, x.to_double(), 0, 0));
    Tensor s = squeeze(u, axis);
    EXPECT_EQ(s.shape(), (Shape{3, 5}));
    EXPECT_EQ(s.strides(), x.strides());
    EXPECT_TRUE(all_close(s, x.to_double(), 0, 0));
  }
  EXPECT_EQ(unsqueeze(Tensor::scalar(2.0), 0).shape(), (Shape{1}));
  EXPECT_EQ(squeeze(Tensor::zeros({1}), 0).dim(), 0);

  Tensor p = param(rand({3, 1, 4}, 9));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return squeeze(in[0], 1); }, {p});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return unsqueeze(in[0], -1); }, {p});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return unsqueeze(transpose(in[0], 0, 2), 1); }, {p});
}

TEST(Squeeze, Errors) {
  Tensor x = Tensor::zeros({3, 1});
  EXPECT_ERROR(squeeze(x, 0), "axis 0 of f32[3, 1] cpu has size 3, not 1");
  EXPECT_ERROR(squeeze(x, 2), "out of range");
  EXPECT_ERROR(unsqueeze(x, 3), "out of range");
  EXPECT_ERROR(unsqueeze(x, -4), "out of range");
}

TEST(Expand, BroadcastView) {
  Tensor x = noncontig(rand({3, 1}, 10));
  Tensor e = expand(x, {2, 3, 5});
  EXPECT_EQ(e.shape(), (Shape{2, 3, 5}));
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_EQ(e.strides()[2], 0);
  EXPECT_TRUE(shares_storage(x, e));
  EXPECT_TRUE(all_close(e, gather(x, e.shape(), [](const Index& i) { return Index{i[1], 0}; }), 0, 0));
  EXPECT_TRUE(all_close(expand(x, {-1, 4}), gather(x, {3, 4}, [](const Index& i) { return Index{i[0], 0}; }), 0, 0));
  EXPECT_EQ(expand(x, {3, 0}).numel(), 0);
  EXPECT_TRUE(all_close(expand(Tensor::scalar(2.5), {2, 2}), std::vector<double>(4, 2.5), 0, 0));
}

TEST(Expand, GradientSumsTheBroadcastAxes) {
  Tensor x = param(rand({3, 1}, 11));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return expand(in[0], {2, 3, 5}); }, {x});
  Tensor y = param(rand({4}, 12));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return expand(in[0], {3, -1}); }, {y});
}

TEST(Expand, Errors) {
  Tensor x = Tensor::zeros({3, 2});
  EXPECT_ERROR(expand(x, {3, 4}), "cannot expand f32[3, 2] cpu to [3, 4]");
  EXPECT_ERROR(expand(x, {2}), "fewer axes");
  EXPECT_ERROR(expand(x, {-1, 3, 2}), "size -1 at new axis 0");
  EXPECT_ERROR(expand(x, {3, -2}), "cannot expand");
}

TEST(Slice, PythonSemantics) {
  Tensor x = rand({7, 3}, 13);
  struct Case {
    int64_t start, end, step;
    Index rows;
  };
  std::vector<Case> cases = {
      {1, 6, 2, {1, 3, 5}},     {-3, kEnd, 1, {4, 5, 6}}, {-100, 2, 1, {0, 1}},    {5, 2, 1, {}},
      {0, 7, 3, {0, 3, 6}},     {-1, -8, 1, {}},          {2, -2, 1, {2, 3, 4}},   {0, 100, 4, {0, 4}},
      {7, kEnd, 1, {}},         {6, 7, 5, {6}},           {-7, -6, 1, {0}},        {0, kEnd, kEnd, {0}},
  };
  for (bool nc : {false, true}) {
    Tensor xs = nc ? noncontig(x) : x;
    for (auto& c : cases) {
      Tensor y = slice(xs, 0, c.start, c.end, c.step);
      ASSERT_EQ(y.shape(), (Shape{int64_t(c.rows.size()), 3})) << c.start << ":" << c.end << ":" << c.step;
      EXPECT_TRUE(shares_storage(xs, y));
      EXPECT_TRUE(all_close(y, gather(x, y.shape(), [&](const Index& i) { return Index{c.rows[size_t(i[0])], i[1]}; }),
                            0, 0));
    }
    Tensor last = slice(xs, -1, 1, kEnd);
    EXPECT_TRUE(all_close(last, gather(x, {7, 2}, [](const Index& i) { return Index{i[0], i[1] + 1}; }), 0, 0));
  }
}

TEST(Slice, GradientScattersIntoZeros) {
  Tensor x = param(rand({7, 5}, 14));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return slice(in[0], 0, -6, 6, 2); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return slice(in[0], 1, 1, 4); }, {x});
  Tensor y = slice(x, 1, 3, kEnd, 1);
  sum(y).backward();
  std::vector<double> want(35, 0.0);
  for (int r = 0; r < 7; ++r) want[size_t(r * 5 + 3)] = want[size_t(r * 5 + 4)] = 1.0;
  EXPECT_TRUE(all_close(x.grad(), want, 0, 0));
  x.zero_grad();
  sum(slice(x, 0, 9, kEnd)).backward();  // empty slice: zero gradient
  EXPECT_TRUE(all_close(x.grad(), std::vector<double>(35, 0.0), 0, 0));
}

TEST(Slice, Errors) {
  Tensor x = Tensor::zeros({4, 3});
  EXPECT_ERROR(slice(x, 0, 0, 2, 0), "step 0 must be >= 1");
  EXPECT_ERROR(slice(x, 0, 2, 0, -1), "step -1 must be >= 1");
  EXPECT_ERROR(slice(x, 2, 0, 1), "slice: axis 2 out of range");
  EXPECT_ERROR(slice(Tensor::scalar(1.0), 0, 0, 1), "out of range");
}

TEST(Concat, ValuesAlongEveryAxis) {
  Tensor a = rand({3, 5, 2}, 15), b = noncontig(rand({3, 5, 7}, 16)), c = rand({3, 5, 1}, 17);
  Tensor e = Tensor::zeros({3, 5, 0});
  Tensor y = concat({a, e, b, c}, -1);
  EXPECT_EQ(y.shape(), (Shape{3, 5, 10}));
  std::vector<double> want;
  auto av = a.to_double(), bv = b.to_double(), cv = c.to_double();
  for (int i = 0; i < 15; ++i) {
    for (int j = 0; j < 2; ++j) want.push_back(av[size_t(i * 2 + j)]);
    for (int j = 0; j < 7; ++j) want.push_back(bv[size_t(i * 7 + j)]);
    want.push_back(cv[size_t(i)]);
  }
  EXPECT_TRUE(all_close(y, want, 0, 0));

  Tensor p = rand({2, 4}, 18), q = noncontig(rand({5, 4}, 19));
  Tensor y0 = concat({p, q}, 0);
  std::vector<double> w0 = p.to_double(), qv = q.to_double();
  w0.insert(w0.end(), qv.begin(), qv.end());
  EXPECT_TRUE(all_close(y0, w0, 0, 0));
  Tensor y1 = concat({transpose(p, 0, 1), transpose(q, 0, 1)}, 1);
  EXPECT_TRUE(all_close(y1, gather(y0, {4, 7}, [](const Index& i) { return Index{i[1], i[0]}; }), 0, 0));

  Tensor ints = concat({Tensor::from_vector(std::vector<int32_t>{1, 2}, {2}),
                        Tensor::from_vector(std::vector<int32_t>{3}, {1})}, 0);
  EXPECT_EQ(ints.dtype(), DType::I32);
  EXPECT_TRUE(all_close(ints, std::vector<double>{1, 2, 3}, 0, 0));
  Tensor single = concat({a}, 1);
  EXPECT_FALSE(shares_storage(single, a));
  EXPECT_TRUE(all_close(single, a, 0, 0));
}

TEST(Concat, GradientToEachInput) {
  Tensor a = param(rand({2, 3}, 20)), b = param(rand({2, 4}, 21)), k = rand({2, 1}, 22);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return concat({in[0], in[2], in[1]}, 1); }, {a, b, k});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return concat({transpose(in[0], 0, 1), transpose(in[1], 0, 1)}, 0); },
                   {a, b});
}

TEST(Concat, Errors) {
  Tensor a = Tensor::zeros({2, 3});
  EXPECT_ERROR(concat({}, 0), "empty list");
  EXPECT_ERROR(concat({a, Tensor()}, 0), "tensor 1 is undefined");
  EXPECT_ERROR(concat({a, Tensor::zeros({2, 3, 1})}, 0), "tensor 1 f32[2, 3, 1] cpu does not match tensor 0");
  EXPECT_ERROR(concat({a, Tensor::zeros({3, 3})}, 1), "does not match tensor 0 f32[2, 3] cpu outside axis 1");
  EXPECT_ERROR(concat({a, Tensor::zeros({2, 3}, DType::I32)}, 0), "differs in dtype");
  EXPECT_ERROR(concat({a, a}, 2), "concat: axis 2 out of range");
  EXPECT_ERROR(concat({Tensor::scalar(1.0), Tensor::scalar(2.0)}, 0), "rank-0");
}

TEST(Split, ViewsThatCoverTheAxis) {
  Tensor x = noncontig(rand({4, 13}, 23));
  std::vector<Tensor> parts = split(x, {3, 0, 10}, -1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].shape(), (Shape{4, 0}));
  EXPECT_TRUE(shares_storage(x, parts[2]));
  EXPECT_TRUE(all_close(parts[0], gather(x, {4, 3}, [](const Index& i) { return i; }), 0, 0));
  EXPECT_TRUE(all_close(parts[2], gather(x, {4, 10}, [](const Index& i) { return Index{i[0], i[1] + 3}; }), 0, 0));

  Tensor p = param(rand({5, 3}, 24));
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        auto s = split(in[0], {2, 1, 2}, 0);
        return concat({s[2], s[0]}, 0);  // the middle part gets no gradient
      },
      {p});
}

TEST(Split, Errors) {
  Tensor x = Tensor::zeros({4, 5});
  EXPECT_ERROR(split(x, {2, 2}, 1), "sizes [2, 2] sum to 4 but axis 1 of f32[4, 5] cpu has 5");
  EXPECT_ERROR(split(x, {5, -1}, 1), "negative size -1");
  EXPECT_ERROR(split(x, {4}, 2), "split: axis 2 out of range");
}

TEST(RepeatInterleave, ValuesAndGradient) {
  for (bool nc : {false, true}) {
    Tensor x = rand({3, 5, 2}, 25);
    if (nc) x = noncontig(x);
    for (int64_t axis : {0, 1, -1}) {
      for (int64_t r : {1, 3}) {
        Tensor y = repeat_interleave(x, r, axis);
        int64_t a = axis < 0 ? axis + 3 : axis;
        Shape s = x.shape();
        s[size_t(a)] *= r;
        ASSERT_EQ(y.shape(), s);
        EXPECT_FALSE(shares_storage(x, y));
        EXPECT_TRUE(all_close(y, gather(x, s, [&](Index i) { i[size_t(a)] /= r; return i; }), 0, 0));
      }
    }
  }
  Tensor p = param(rand({2, 3, 2}, 26));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return repeat_interleave(in[0], 3, 1); }, {p});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return repeat_interleave(transpose(in[0], 0, 2), 2, -1); }, {p});
  // Each repeat's gradient is summed back: d/dx sum(repeat_interleave(x, 4)) = 4.
  Tensor q = param(rand({3}, 27));
  sum(repeat_interleave(q, 4, 0)).backward();
  EXPECT_TRUE(all_close(q.grad(), std::vector<double>(3, 4.0), 0, 0));
}

TEST(RepeatInterleave, Errors) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_ERROR(repeat_interleave(x, 0, 0), "repeats 0 must be >= 1");
  EXPECT_ERROR(repeat_interleave(x, 2, 2), "repeat_interleave: axis 2 out of range");
}

TEST(Contiguous, TrackedCopy) {
  Tensor x = param(rand({4, 6}, 28));
  EXPECT_TRUE(contiguous(x).same(x));
  Tensor t = transpose(x, 0, 1);
  Tensor c = contiguous(t);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(shares_storage(c, x));
  EXPECT_TRUE(all_close(c, t.to_double(), 0, 0));
  EXPECT_TRUE(c.requires_grad());
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return contiguous(slice(in[0], 1, 0, 6, 2)); }, {x});
}

TEST(Cast, ValuesAndGradientInTheInputDtype) {
  Tensor x = param(rand({3, 5}, 29, -4, 4));
  Tensor d = cast(x, DType::F64);
  EXPECT_EQ(d.dtype(), DType::F64);
  EXPECT_TRUE(all_close(d, x.to_double(), 0, 0));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return cast(in[0], DType::F64); }, {x});
  sum(cast(cast(x, DType::BF16), DType::F32)).backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), DType::F32);
  EXPECT_TRUE(all_close(x.grad(), std::vector<double>(15, 1.0), 0, 0));
  // bf16 keeps 8 significant bits.
  EXPECT_TRUE(all_close(cast(cast(x, DType::BF16), DType::F32), x.to_double(), 0, 1.0 / 256));

  Tensor i = cast(x, DType::I32);
  EXPECT_EQ(i.dtype(), DType::I32);
  EXPECT_FALSE(i.requires_grad());
  EXPECT_TRUE(cast(x, DType::F32).same(x));
  EXPECT_ERROR(cast(Tensor(), DType::F32), "cast: argument 'x' is an undefined tensor");
}

TEST(Chains, TransposeSliceReshapeWeightedSum) {
  Tensor x = param(rand({5, 6}, 30));
  Tensor w = rand({9}, 31);
  // transpose: [6, 5]; rows 1, 3, 5; columns 1..3 -> [3, 3] -> [9]
  Tensor y = reshape(slice(slice(transpose(x, 0, 1), 0, 1, 6, 2), 1, 1, 4), {-1});
  std::vector<double> want_y, want_g(30, 0.0), xv = x.to_double(), wv = w.to_double();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      int r = 1 + 2 * i, c = 1 + j;  // element (r, c) of x^T is x[c][r]
      want_y.push_back(xv[size_t(c * 6 + r)]);
      want_g[size_t(c * 6 + r)] = wv[size_t(i * 3 + j)];
    }
  EXPECT_TRUE(all_close(y, want_y, 0, 0));
  sum(mul(y, w)).backward();
  EXPECT_TRUE(all_close(x.grad(), want_g, 1e-7, 0));
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return reshape(slice(permute(in[0], {1, 0}), 0, -5, kEnd, 2), {5, -1});
      },
      {x});
}

TEST(Chains, GradientsAccumulateAcrossBranches) {
  Tensor x = param(rand({2, 3}, 32));
  // x used through expand, a view of itself and a repeat: gradients from all three add up.
  Tensor a = sum(expand(unsqueeze(x, 0), {4, 2, 3}));
  Tensor b = sum(mul(transpose(x, 0, 1), transpose(x, 0, 1)));
  Tensor c = sum(repeat_interleave(x, 2, 1));
  add(add(a, b), c).backward();
  std::vector<double> xv = x.to_double(), want;
  for (double v : xv) want.push_back(4.0 + 2.0 * v + 2.0);
  EXPECT_TRUE(all_close(x.grad(), want, 1e-6, 1e-6));
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        auto parts = split(repeat_interleave(in[0], 2, 0), {1, 3}, 0);
        return concat({expand(parts[0], {2, 3}), parts[1]}, 0);
      },
      {x});
}
