// embedding: gather against plain loops for i32/i64 ids of several shapes and strided inputs; the
// scatter-add gradient with repeated ids (gradcheck and a double reference); rejected inputs.
#include "autograd/node.h"
#include "ops/embedding.h"
#include "tests/test_util.h"

namespace zebra {
namespace {

using test::all_close;

Tensor ids_tensor(const std::vector<int64_t>& v, const Shape& shape, DType t) {
  return Tensor::from_vector(v, shape).to(t);
}

// out[i, d] = weight[ids[i], d].
std::vector<double> ref_gather(const Tensor& weight, const std::vector<int64_t>& ids) {
  const std::vector<double> w = weight.to_double();
  const int64_t D = weight.size(1);
  std::vector<double> out;
  for (int64_t id : ids)
    for (int64_t d = 0; d < D; ++d) out.push_back(w[size_t(id * D + d)]);
  return out;
}

// dweight[ids[i], d] += g[i, d].
std::vector<double> ref_scatter(const Tensor& g, const std::vector<int64_t>& ids, int64_t V) {
  const std::vector<double> gv = g.to_double();
  const int64_t D = g.size(-1);
  std::vector<double> out(size_t(V * D), 0.0);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t d = 0; d < D; ++d) out[size_t(ids[i] * D + d)] += gv[i * size_t(D) + size_t(d)];
  return out;
}

std::vector<int64_t> random_ids(int64_t n, int64_t V, uint64_t seed) {
  const std::vector<float> u = Tensor::uniform({n}, seed).to_vector();
  std::vector<int64_t> ids;
  for (float x : u) ids.push_back(std::min<int64_t>(V - 1, int64_t(x * float(V))));
  return ids;
}

TEST(Embedding, ForwardI32AndI64OddSizes) {
  uint64_t seed = 1;
  for (DType t : {DType::I32, DType::I64})
    for (int64_t V : {1, 7, 67})
      for (int64_t D : {1, 5, 33}) {
        Tensor w = test::rand({V, D}, seed++);
        const std::vector<int64_t> ids = random_ids(13, V, seed++);
        Tensor out = embedding(w, ids_tensor(ids, {13}, t));
        ASSERT_EQ(out.shape(), (Shape{13, D}));
        EXPECT_TRUE(all_close(out, ref_gather(w, ids), 0.0, 0.0)) << dtype_name(t) << " V=" << V << " D=" << D;
      }
}

TEST(Embedding, IdShapes) {
  Tensor w = test::rand({7, 5}, 11);
  const std::vector<int64_t> ids{6, 0, 3, 3, 1, 2};
  Tensor out = embedding(w, ids_tensor(ids, {2, 3}, DType::I64));
  ASSERT_EQ(out.shape(), (Shape{2, 3, 5}));
  EXPECT_TRUE(all_close(out, ref_gather(w, ids), 0.0, 0.0));
  Tensor one = embedding(w, ids_tensor({4}, {}, DType::I32));
  ASSERT_EQ(one.shape(), (Shape{5}));
  EXPECT_TRUE(all_close(one, ref_gather(w, {4}), 0.0, 0.0));
  EXPECT_EQ(embedding(w, ids_tensor({}, {2, 0}, DType::I32)).shape(), (Shape{2, 0, 5}));
}

TEST(Embedding, StridedWeightAndIds) {
  Tensor w = test::rand({13, 7}, 21);
  const std::vector<int64_t> ids = random_ids(33, 13, 22);
  for (DType t : {DType::I32, DType::I64}) {
    Tensor idn = test::noncontig(ids_tensor(ids, {3, 11}, t));
    EXPECT_TRUE(all_close(embedding(test::noncontig(w), idn), ref_gather(w, ids), 0.0, 0.0));
  }
  // A table read through its transpose (column stride != 1).
  Tensor wt = test::rand({7, 13}, 23);
  Tensor view = wt.as_strided({13, 7}, {1, 13}, 0);
  EXPECT_TRUE(all_close(embedding(view, ids_tensor(ids, {33}, DType::I64)), ref_gather(view, ids), 0.0, 0.0));
}

TEST(Embedding, GradcheckRepeatedIds) {
  Tensor w = test::param(test::rand({5, 3}, 31));
  for (DType t : {DType::I32, DType::I64}) {
    Tensor ids = ids_tensor({1, 3, 1, 1, 0, 3}, {2, 3}, t);
    EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return embedding(x[0], x[1]); }, (std::vector<Tensor>{w, ids}));
  }
}

TEST(Embedding, BackwardScatterAddsRepeatedIds) {
  // Many repeats of few ids (so groups are long) and a long row, over a noncontiguous gradient.
  const int64_t V = 11, D = 67, N = 1000;
  std::vector<int64_t> ids = random_ids(N, V - 2, 41);  // the last two rows never appear: zero gradient
  for (int64_t i = 0; i < N; i += 3) ids[size_t(i)] = 4;
  Tensor w = test::param(test::rand({V, D}, 42));
  Tensor out = embedding(w, ids_tensor(ids, {10, 100}, DType::I32));
  Tensor g = test::noncontig(test::rand(out.shape(), 43));
  out.backward(g);
  EXPECT_TRUE(all_close(w.grad(), ref_scatter(g, ids, V), 1e-5, 1e-6));
  const std::vector<double> gw = w.grad().to_double();
  for (int64_t r = V - 2; r < V; ++r)
    for (int64_t d = 0; d < D; ++d) EXPECT_EQ(gw[size_t(r * D + d)], 0.0);
}

TEST(Embedding, BackwardAccumulatesOverCalls) {
  // Two lookups of one table: gradients from both reach the table.
  Tensor w = test::param(test::rand({4, 3}, 51));
  Tensor a = embedding(w, ids_tensor({0, 2}, {2}, DType::I64));
  Tensor b = embedding(w, ids_tensor({2, 2, 3}, {3}, DType::I64));
  Tensor ga = test::rand(a.shape(), 52), gb = test::rand(b.shape(), 53);
  a.backward(ga);
  b.backward(gb);
  std::vector<double> want = ref_scatter(ga, {0, 2}, 4), more = ref_scatter(gb, {2, 2, 3}, 4);
  for (size_t i = 0; i < want.size(); ++i) want[i] += more[i];
  EXPECT_TRUE(all_close(w.grad(), want, 1e-6, 1e-6));
}

TEST(Embedding, Errors) {
  Tensor w = test::rand({10, 4}, 1);
  EXPECT_ERROR(embedding(w, ids_tensor({1, 12, 3}, {3}, DType::I64)),
               "embedding: id 12 at position 1 of ids i64[3] cpu is out of range for a vocabulary of V = 10");
  EXPECT_ERROR(embedding(w, ids_tensor({10}, {1}, DType::I32)), "id 10 at position 0");
  EXPECT_ERROR(embedding(w, ids_tensor({0, -1}, {2}, DType::I32)), "id -1 at position 1");
  EXPECT_ERROR(embedding(w, Tensor::zeros({3}, DType::F32)), "embedding: argument 'ids' must be i32 or i64, got f32[3] cpu");
  EXPECT_ERROR(embedding(w, Tensor::zeros({3}, DType::U8)), "must be i32 or i64");
  EXPECT_ERROR(embedding(test::rand({10}, 2), ids_tensor({1}, {1}, DType::I32)),
               "embedding: argument 'weight' must have rank 2, got f32[10] cpu");
  EXPECT_ERROR(embedding(w.to(DType::F64), ids_tensor({1}, {1}, DType::I32)), "embedding: argument 'weight' must be f32");
  EXPECT_ERROR(embedding(w, Tensor()), "embedding: argument 'ids' is an undefined tensor");
  EXPECT_ERROR(embedding(Tensor(), ids_tensor({1}, {1}, DType::I32)), "embedding: argument 'weight' is an undefined tensor");
}

}  // namespace
}  // namespace zebra
