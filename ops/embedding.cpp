#include "ops/embedding.h"

#include <memory>

#include "autograd/node.h"
#include "ops/cpu/embedding.h"
#include "ops/dispatch.h"

namespace zebra {

namespace {

// ids of any shape, i32 or i64, row-major as int64; each must lie in [0, V).
std::vector<int64_t> checked_ids(const Tensor& ids, const Tensor& weight) {
  const int64_t V = weight.size(0);
  const Tensor c = ids.contiguous();
  std::vector<int64_t> v(size_t(c.numel()));
  if (ids.dtype() == DType::I64) {
    const int64_t* p = c.data<int64_t>();
    std::copy(p, p + c.numel(), v.begin());
  } else {
    const int32_t* p = c.data<int32_t>();
    std::copy(p, p + c.numel(), v.begin());
  }
  for (size_t i = 0; i < v.size(); ++i)
    ZCHECK(v[i] >= 0 && v[i] < V, "embedding: id ", v[i], " at position ", i, " of ids ", ids.summary(),
           " is out of range for a vocabulary of V = ", V, " (weight ", weight.summary(), ")");
  return v;
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  check_defined(weight, "embedding", "weight");
  check_defined(ids, "embedding", "ids");
  expect_cpu("embedding", {&weight, &ids});
  expect_f32("embedding", {{"weight", &weight}});
  check_rank(weight, 2, "embedding", "weight");
  ZCHECK(ids.dtype() == DType::I32 || ids.dtype() == DType::I64, "embedding: argument 'ids' must be i32 or i64, got ",
         ids.summary());
  auto flat = std::make_shared<std::vector<int64_t>>(checked_ids(ids, weight));
  const int64_t V = weight.size(0), D = weight.size(1);
  Shape shape = ids.shape();
  shape.push_back(D);
  Tensor out = cpu::embedding_forward(weight, *flat).view(shape);
  return record(out, "embedding", {weight}, [flat, V](const Tensor& g, const std::vector<bool>& needs) {
    return std::vector<Tensor>{cpu::embedding_backward(g, *flat, V)};
  });
}

}  // namespace zebra
