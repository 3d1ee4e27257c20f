#include <cmath>
#include <limits>

#include "core/allocator.h"
#include "core/threadpool.h"
#include "ops/attention.h"
#include "ops/cpu/attention.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "test_util.h"

using namespace zebra;

namespace {

struct AttnCase {
  int64_t B, T, S, H, G, Dk, Dv;
};

std::string describe(const AttnCase& c) {
  return str("B=", c.B, " T=", c.T, " S=", c.S, " H=", c.H, " G=", c.G, " Dk=", c.Dk, " Dv=", c.Dv);
}

// Shrinks the kernels' blocks for one scope so that small inputs cross many block edges.
class BlockSizes {
 public:
  BlockSizes(int64_t q, int64_t kv) : saved_(cpu::attention_blocks()) { cpu::attention_blocks() = {q, kv}; }
  ~BlockSizes() { cpu::attention_blocks() = saved_; }

 private:
  cpu::AttentionBlocks saved_;
};

// Masked softmax over plain loops in double: query t (position S - T + t) attends keys 0..S-T+t of
// kv head h / (H / G). Returns [B, T, H, Dv] row-major.
std::vector<double> naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), Dk = q.size(3);
  const int64_t S = k.size(1), G = k.size(2), Dv = v.size(3), rep = H / G;
  if (scale == 0.0) scale = 1.0 / std::sqrt(double(Dk));
  std::vector<double> qd = q.to_double(), kd = k.to_double(), vd = v.to_double();
  std::vector<double> out(static_cast<size_t>(B * T * H * Dv)), w(static_cast<size_t>(S));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t g = h / rep, last = S - T + t;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j <= last; ++j) {
          double s = 0.0;
          for (int64_t d = 0; d < Dk; ++d)
            s += qd[size_t(((b * T + t) * H + h) * Dk + d)] * kd[size_t(((b * S + j) * G + g) * Dk + d)];
          w[size_t(j)] = s * scale;
          mx = std::max(mx, w[size_t(j)]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j <= last; ++j) sum += (w[size_t(j)] = std::exp(w[size_t(j)] - mx));
        for (int64_t e = 0; e < Dv; ++e) {
          double acc = 0.0;
          for (int64_t j = 0; j <= last; ++j) acc += w[size_t(j)] * vd[size_t(((b * S + j) * G + g) * Dv + e)];
          out[size_t(((b * T + t) * H + h) * Dv + e)] = acc / sum;
        }
      }
  return out;
}

struct Qkv {
  Tensor q, k, v;
};
Qkv random_qkv(const AttnCase& c, uint64_t seed) {
  return {test::randn({c.B, c.T, c.H, c.Dk}, seed), test::randn({c.B, c.S, c.G, c.Dk}, seed + 1),
          test::randn({c.B, c.S, c.G, c.Dv}, seed + 2)};
}

const std::vector<AttnCase>& forward_cases() {
  static const std::vector<AttnCase> cases = {
      {1, 1, 1, 1, 1, 8, 8},       {2, 1, 9, 6, 2, 8, 8},     // one query, and a decode step with 8 cached
      {2, 5, 5, 6, 2, 13, 7},      {1, 5, 12, 3, 3, 16, 16},  // Dk != Dv; H == G
      {1, 67, 67, 6, 2, 16, 24},   {1, 67, 100, 4, 1, 8, 8},  // MQA with a cache offset
      {1, 130, 130, 2, 1, 32, 32}, {2, 130, 131, 6, 2, 5, 9},
  };
  return cases;
}

}  // namespace

TEST(CausalAttention, ForwardMatchesNaive) {
  for (const AttnCase& c : forward_cases()) {
    SCOPED_TRACE(describe(c));
    Qkv in = random_qkv(c, 100);
    Tensor out = causal_attention(in.q, in.k, in.v);
    ASSERT_EQ(out.shape(), (Shape{c.B, c.T, c.H, c.Dv}));
    EXPECT_TRUE(test::all_close(out, naive_attention(in.q, in.k, in.v, 0.0), 1e-5, 1e-4));
  }
}

TEST(CausalAttention, SmallBlocksMatchNaive) {
  // Blocks of 4 queries x 3 keys: partial blocks, fully masked key blocks skipped, diagonal blocks.
  BlockSizes blocks(4, 3);
  for (const AttnCase& c : forward_cases()) {
    SCOPED_TRACE(describe(c));
    Qkv in = random_qkv(c, 200);
    EXPECT_TRUE(
        test::all_close(causal_attention(in.q, in.k, in.v, 0.3), naive_attention(in.q, in.k, in.v, 0.3), 1e-5, 1e-4));
  }
}

TEST(CausalAttention, LargeScoresStayFinite) {
  // Scores near +-100 need the running max: a naive exp would overflow.
  AttnCase c{1, 70, 70, 2, 2, 8, 8};
  Qkv in = random_qkv(c, 300);
  Tensor out = causal_attention(in.q, in.k, in.v, 40.0);
  EXPECT_TRUE(test::all_close(out, naive_attention(in.q, in.k, in.v, 40.0), 1e-4, 1e-4));
}

TEST(CausalAttention, StridedInputs) {
  // q, k, v as slices of one fused projection [B, T, (H + 2G) * D], read in place.
  const int64_t B = 2, T = 67, H = 6, G = 2, D = 16, W = (H + 2 * G) * D;
  Tensor qkv = test::randn({B, T, W}, 400);
  Tensor q = qkv.as_strided({B, T, H, D}, {T * W, W, D, 1}, 0);
  Tensor k = qkv.as_strided({B, T, G, D}, {T * W, W, D, 1}, H * D);
  Tensor v = qkv.as_strided({B, T, G, D}, {T * W, W, D, 1}, (H + G) * D);
  ASSERT_FALSE(q.is_contiguous());
  std::vector<double> want = naive_attention(q, k, v, 0.0);
  EXPECT_TRUE(test::all_close(causal_attention(q, k, v), want, 1e-5, 1e-4));
  // A strided last axis goes through a copy.
  EXPECT_TRUE(
      test::all_close(causal_attention(test::noncontig(q), test::noncontig(k), test::noncontig(v)), want, 1e-5, 1e-4));
}

TEST(CausalAttention, StridedInputsBackward) {
  const int64_t B = 1, T = 19, H = 4, G = 2, D = 8, W = (H + 2 * G) * D;
  Tensor base = test::param(test::randn({B, T, W}, 410));
  Tensor g = test::randn({B, T, H, D}, 411);
  auto split = [&](const Tensor& qkv) {
    return Qkv{qkv.as_strided({B, T, H, D}, {T * W, W, D, 1}, 0), qkv.as_strided({B, T, G, D}, {T * W, W, D, 1}, H * D),
               qkv.as_strided({B, T, G, D}, {T * W, W, D, 1}, (H + G) * D)};
  };
  // Gradients reach q, k, v as leaves of their own; compare with the same views made contiguous.
  Qkv views = split(base.detach());
  Tensor q = test::param(views.q.detach()), k = test::param(views.k.detach()), v = test::param(views.v.detach());
  causal_attention(q, k, v).backward(g);
  Tensor qc = test::param(views.q.contiguous()), kc = test::param(views.k.contiguous());
  Tensor vc = test::param(views.v.contiguous());
  causal_attention(qc, kc, vc).backward(g);
  EXPECT_TRUE(test::all_close(q.grad(), qc.grad(), 1e-6, 1e-5));
  EXPECT_TRUE(test::all_close(k.grad(), kc.grad(), 1e-6, 1e-5));
  EXPECT_TRUE(test::all_close(v.grad(), vc.grad(), 1e-6, 1e-5));
}

TEST(CausalAttention, ReferenceCompositionAgrees) {
  for (AttnCase c :
       {AttnCase{2, 67, 100, 6, 2, 16, 8}, AttnCase{1, 5, 5, 3, 3, 7, 13}, AttnCase{1, 1, 9, 2, 1, 4, 4}}) {
    SCOPED_TRACE(describe(c));
    Qkv in = random_qkv(c, 500);
    Tensor ref = causal_attention_reference(in.q, in.k, in.v);
    EXPECT_TRUE(test::all_close(ref, naive_attention(in.q, in.k, in.v, 0.0), 1e-5, 1e-4));
    EXPECT_TRUE(test::all_close(causal_attention(in.q, in.k, in.v), ref, 1e-5, 1e-4));
  }
}

TEST(CausalAttention, BackwardMatchesReferenceComposition) {
  for (AttnCase c :
       {AttnCase{2, 67, 100, 6, 2, 16, 8}, AttnCase{1, 130, 130, 2, 2, 8, 12}, AttnCase{1, 5, 9, 4, 1, 5, 3}}) {
    SCOPED_TRACE(describe(c));
    Qkv in = random_qkv(c, 600);
    Tensor g = test::randn({c.B, c.T, c.H, c.Dv}, 601);
    Tensor q = test::param(in.q.clone()), k = test::param(in.k.clone()), v = test::param(in.v.clone());
    causal_attention(q, k, v).backward(g);
    Tensor qr = test::param(in.q.clone()), kr = test::param(in.k.clone()), vr = test::param(in.v.clone());
    causal_attention_reference(qr, kr, vr).backward(g);
    EXPECT_TRUE(test::all_close(q.grad(), qr.grad(), 1e-5, 1e-3));
    EXPECT_TRUE(test::all_close(k.grad(), kr.grad(), 1e-5, 1e-3));
    EXPECT_TRUE(test::all_close(v.grad(), vr.grad(), 1e-5, 1e-3));
  }
}

TEST(CausalAttention, BackwardOnlyWhatIsNeeded) {
  AttnCase c{1, 5, 7, 2, 1, 4, 4};
  Qkv in = random_qkv(c, 700);
  Tensor q = test::param(in.q.clone());
  causal_attention(q, in.k, in.v).backward(test::randn({1, 5, 2, 4}, 701));
  EXPECT_TRUE(q.grad().defined());
  EXPECT_FALSE(in.k.grad().defined());
  Tensor v = test::param(in.v.clone());
  causal_attention(in.q, in.k, v).backward(test::randn({1, 5, 2, 4}, 702));
  EXPECT_TRUE(v.grad().defined());
}

TEST(CausalAttention, Gradcheck) {
  auto f = [](const std::vector<Tensor>& in) { return causal_attention(in[0], in[1], in[2]); };
  {
    BlockSizes blocks(2, 3);  // several query and key blocks on tiny inputs
    AttnCase c{1, 5, 8, 4, 2, 3, 5};
    Qkv in = random_qkv(c, 800);
    EXPECT_GRADCHECK(f, {test::param(in.q), test::param(in.k), test::param(in.v)});
    AttnCase d{2, 7, 7, 2, 2, 4, 2};
    Qkv in2 = random_qkv(d, 810);
    EXPECT_GRADCHECK(f, {test::param(in2.q), test::param(in2.k), test::param(in2.v)});
  }
  // Default blocks: 70 queries cross a 64-row block edge.
  AttnCase c{1, 70, 70, 2, 1, 4, 4};
  Qkv in = random_qkv(c, 820);
  EXPECT_GRADCHECK(f, {test::param(in.q), test::param(in.k), test::param(in.v)});
}

TEST(CausalAttention, GradcheckReference) {
  auto f = [](const std::vector<Tensor>& in) { return causal_attention_reference(in[0], in[1], in[2]); };
  AttnCase c{1, 4, 6, 4, 2, 3, 2};
  Qkv in = random_qkv(c, 900);
  EXPECT_GRADCHECK(f, {test::param(in.q), test::param(in.k), test::param(in.v)});
}

TEST(CausalAttention, EmptyQuery) {
  AttnCase c{2, 0, 3, 2, 1, 4, 5};
  Qkv in = random_qkv(c, 950);
  Tensor k = test::param(in.k.clone());
  Tensor out = causal_attention(in.q, k, in.v);
  EXPECT_EQ(out.shape(), (Shape{2, 0, 2, 5}));
  out.backward(Tensor::zeros(out.shape()));
  EXPECT_TRUE(test::all_close(k.grad(), std::vector<double>(size_t(k.numel()), 0.0)));
}

TEST(CausalAttention, PeakMemoryStaysBlocked) {
  // The full score matrix would be T * S * 4 = 16 MiB per head; the blocked kernels hold a few
  // blocks per thread on top of their inputs and outputs.
  const int64_t T = 2048, D = 64;
  const int64_t scores_bytes = T * T * 4;
  Tensor q = test::param(test::randn({1, T, 1, D}, 1000)), k = test::param(test::randn({1, T, 1, D}, 1001));
  Tensor v = test::param(test::randn({1, T, 1, D}, 1002));
  Tensor g = test::randn({1, T, 1, D}, 1003);
  const int64_t io_bytes = T * D * 4;  // one of q, k, v, out, dq, dk, dv
  // Each thread holds its own few blocks: allow 256 KiB of scratch per thread of the pool.
  const int64_t scratch = scores_bytes / 32 + int64_t(ThreadPool::global().num_threads()) * (256 << 10);
  ASSERT_LT(scratch, scores_bytes / 2) << "too many threads for this size to tell blocked from full";
  CpuAllocator& alloc = cpu_allocator();
  const int64_t base = alloc.stats().live_bytes;
  alloc.reset_peak();
  Tensor out = causal_attention(q, k, v);
  const int64_t forward_peak = alloc.stats().peak_bytes - base;
  EXPECT_LT(forward_peak, io_bytes + scratch) << "forward peak " << forward_peak;
  out.backward(g);
  // Live at the backward's peak: out, dq, dk, dv and the engine's copies of them into .grad.
  const int64_t peak = alloc.stats().peak_bytes - base;
  EXPECT_LT(peak, 7 * io_bytes + scratch) << "backward peak " << peak;
  EXPECT_TRUE(q.grad().defined() && k.grad().defined() && v.grad().defined());
}

TEST(CausalAttention, Errors) {
  Tensor q = test::randn({2, 5, 4, 8}, 1), k = test::randn({2, 7, 2, 8}, 2), v = test::randn({2, 7, 2, 6}, 3);
  EXPECT_ERROR(causal_attention(Tensor(), k, v), "causal_attention: argument 'q' is an undefined tensor");
  EXPECT_ERROR(causal_attention(test::randn({2, 5, 32}, 1), k, v), "causal_attention: argument 'q' must have rank 4");
  EXPECT_ERROR(causal_attention(q, test::randn({2, 7, 16}, 1), v), "causal_attention: argument 'k' must have rank 4");
  EXPECT_ERROR(causal_attention(q, k, test::randn({7, 2, 6}, 1)), "causal_attention: argument 'v' must have rank 4");
  EXPECT_ERROR(causal_attention(test::randn({3, 5, 4, 8}, 1), k, v),
               "causal_attention: batch sizes differ: q f32[3, 5, 4, 8] cpu");
  EXPECT_ERROR(causal_attention(q, k, test::randn({2, 6, 2, 6}, 1)), "k and v differ in sequence length S");
  EXPECT_ERROR(causal_attention(q, k, test::randn({2, 7, 1, 6}, 1)), "k and v differ in kv heads G");
  EXPECT_ERROR(causal_attention(q, test::randn({2, 7, 2, 4}, 1), v), "q and k differ in head dim Dk");
  EXPECT_ERROR(causal_attention(q, test::randn({2, 7, 3, 8}, 1), test::randn({2, 7, 3, 6}, 1)),
               "query heads H=4 are not a multiple of kv heads G=3");
  EXPECT_ERROR(causal_attention(test::randn({2, 8, 4, 8}, 1), k, v), "fewer keys than queries (S < T)");
  EXPECT_ERROR(causal_attention(q.to(DType::F64), k, v), "causal_attention: argument 'q' must be f32");
  EXPECT_ERROR(causal_attention(q, k, v.to(DType::BF16)), "causal_attention: argument 'v' must be f32");
  EXPECT_ERROR(causal_attention(q, k, v, std::numeric_limits<double>::infinity()), "is not finite");
  EXPECT_ERROR(causal_attention_reference(q, test::randn({2, 4, 2, 8}, 1), test::randn({2, 4, 2, 6}, 1)),
               "causal_attention_reference: fewer keys than queries");
}
