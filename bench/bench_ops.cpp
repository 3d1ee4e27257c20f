// Op benchmarks with their references measured in the same run: raw OpenBLAS sgemm for the
// matmul-backed ops, memcpy bandwidth for the memory-bound ones. Rates are counted as
// GFLOP/s ("FLOP") or bytes moved per second ("B", reads + writes, decimal G).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstring>

#include "autograd/node.h"
#include "core/threadpool.h"
#include "ops/ops.h"

using namespace zebra;

namespace {
void flops(benchmark::State& s, double per_iter) {
  s.counters["FLOP"] = benchmark::Counter(per_iter, benchmark::Counter::kIsIterationInvariantRate);
}
void bytes(benchmark::State& s, double per_iter) {
  s.counters["B"] = benchmark::Counter(per_iter, benchmark::Counter::kIsIterationInvariantRate);
}
}  // namespace

// ---- references ----
static void BM_raw_sgemm(benchmark::State& s) {
  int64_t n = s.range(0);
  Tensor a = Tensor::normal({n, n}, 1), b = Tensor::normal({n, n}, 2), c = Tensor::empty({n, n});
  ThreadPool::global();  // sets the BLAS thread count like every zebra op sees it
  for (auto _ : s)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(n), int(n), 1.0f, a.data<float>(), int(n),
                b.data<float>(), int(n), 0.0f, c.data<float>(), int(n));
  flops(s, 2.0 * double(n) * double(n) * double(n));
}
BENCHMARK(BM_raw_sgemm)->Arg(256)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_raw_sgemm_nt(benchmark::State& s) {  // the layout linear() uses: x [M, K] · w [N, K]^T
  int64_t n = s.range(0);
  Tensor a = Tensor::normal({n, n}, 1), b = Tensor::normal({n, n}, 2), c = Tensor::empty({n, n});
  ThreadPool::global();
  for (auto _ : s)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(n), int(n), 1.0f, a.data<float>(), int(n),
                b.data<float>(), int(n), 0.0f, c.data<float>(), int(n));
  flops(s, 2.0 * double(n) * double(n) * double(n));
}
BENCHMARK(BM_raw_sgemm_nt)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

// memcpy split over the pool's threads: the copy bandwidth every thread together can reach.
static void BM_raw_memcpy(benchmark::State& s) {
  int64_t n = s.range(0);
  Tensor a = Tensor::normal({n}, 1), b = Tensor::empty({n});
  char* dst = static_cast<char*>(b.raw_data());
  const char* src = static_cast<const char*>(a.raw_data());
  for (auto _ : s) {
    parallel_for(0, n, 1 << 16, [&](int64_t lo, int64_t hi) { std::memcpy(dst + lo * 4, src + lo * 4, size_t(hi - lo) * 4); });
    benchmark::ClobberMemory();
  }
  bytes(s, 2.0 * 4.0 * double(n));
}
BENCHMARK(BM_raw_memcpy)->Arg(1 << 27)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- matmul family ----
static void BM_matmul(benchmark::State& s) {
  int64_t n = s.range(0);
  NoGrad ng;
  Tensor a = Tensor::normal({n, n}, 1), b = Tensor::normal({n, n}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(matmul(a, b));
  flops(s, 2.0 * double(n) * double(n) * double(n));
}
BENCHMARK(BM_matmul)->Arg(256)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_matmul_transposed_view(benchmark::State& s) {
  int64_t n = s.range(0);
  NoGrad ng;
  Tensor a = Tensor::normal({n, n}, 1), b = transpose(Tensor::normal({n, n}, 2), 0, 1);
  for (auto _ : s) benchmark::DoNotOptimize(matmul(a, b));
  flops(s, 2.0 * double(n) * double(n) * double(n));
}
BENCHMARK(BM_matmul_transposed_view)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_linear(benchmark::State& s) {
  int64_t n = s.range(0);
  NoGrad ng;
  Tensor x = Tensor::normal({4, n / 4, n}, 1), w = Tensor::normal({n, n}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(linear(x, w));
  flops(s, 2.0 * double(n) * double(n) * double(n));
}
BENCHMARK(BM_linear)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_matmul_fwd_bwd(benchmark::State& s) {
  int64_t n = s.range(0);
  Tensor a = Tensor::normal({n, n}, 1).set_requires_grad(true), b = Tensor::normal({n, n}, 2).set_requires_grad(true);
  Tensor g = Tensor::ones({n, n});
  for (auto _ : s) {
    a.zero_grad();
    b.zero_grad();
    matmul(a, b).backward(g);
  }
  flops(s, 3 * 2.0 * double(n) * double(n) * double(n));
}
BENCHMARK(BM_matmul_fwd_bwd)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- attention ----
static void BM_attention(benchmark::State& s) {
  int64_t T = s.range(0), H = 8, G = 2, D = 64;
  NoGrad ng;
  Tensor q = Tensor::normal({1, T, H, D}, 1), k = Tensor::normal({1, T, G, D}, 2), v = Tensor::normal({1, T, G, D}, 3);
  for (auto _ : s) benchmark::DoNotOptimize(causal_attention(q, k, v));
  flops(s, 4.0 * double(H) * double(T) * double(T + 1) / 2.0 * double(D));  // causal half of QK^T and PV
}
BENCHMARK(BM_attention)->Arg(512)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_attention_fwd_bwd(benchmark::State& s) {
  int64_t T = s.range(0), H = 8, G = 2, D = 64;
  Tensor q = Tensor::normal({1, T, H, D}, 1).set_requires_grad(true);
  Tensor k = Tensor::normal({1, T, G, D}, 2).set_requires_grad(true);
  Tensor v = Tensor::normal({1, T, G, D}, 3).set_requires_grad(true);
  Tensor g = Tensor::ones({1, T, H, D});
  for (auto _ : s) {
    q.zero_grad(), k.zero_grad(), v.zero_grad();
    causal_attention(q, k, v).backward(g);
  }
  flops(s, 3.5 * 4.0 * double(H) * double(T) * double(T + 1) / 2.0 * double(D));  // FA2 convention: bwd = 2.5 fwd
}
BENCHMARK(BM_attention_fwd_bwd)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- memory-bound ops ([rows, 2048] f32, 64 MiB per operand) ----
constexpr int64_t kRows = int64_t(1) << 16, kCols = 2048;  // 512 MiB per operand: past the 480 MiB L3

static void BM_add(benchmark::State& s) {
  NoGrad ng;
  Tensor a = Tensor::normal({kRows, kCols}, 1), b = Tensor::normal({kRows, kCols}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(add(a, b));
  bytes(s, 3.0 * 4.0 * double(kRows * kCols));
}
BENCHMARK(BM_add)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_add_broadcast_row(benchmark::State& s) {
  NoGrad ng;
  Tensor a = Tensor::normal({kRows, kCols}, 1), b = Tensor::normal({kCols}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(add(a, b));
  bytes(s, 2.0 * 4.0 * double(kRows * kCols));
}
BENCHMARK(BM_add_broadcast_row)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_silu(benchmark::State& s) {
  NoGrad ng;
  Tensor a = Tensor::normal({kRows, kCols}, 1);
  for (auto _ : s) benchmark::DoNotOptimize(silu(a));
  bytes(s, 2.0 * 4.0 * double(kRows * kCols));
}
BENCHMARK(BM_silu)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_swiglu(benchmark::State& s) {
  NoGrad ng;
  Tensor a = Tensor::normal({kRows, kCols}, 1), b = Tensor::normal({kRows, kCols}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(swiglu(a, b));
  bytes(s, 3.0 * 4.0 * double(kRows * kCols));
}
BENCHMARK(BM_swiglu)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_sum_rows(benchmark::State& s) {
  NoGrad ng;
  Tensor a = Tensor::normal({kRows, kCols}, 1);
  for (auto _ : s) benchmark::DoNotOptimize(sum(a, {-1}));
  bytes(s, 4.0 * double(kRows * kCols));
}
BENCHMARK(BM_sum_rows)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_rms_norm(benchmark::State& s) {
  NoGrad ng;
  Tensor x = Tensor::normal({kRows, kCols}, 1), w = Tensor::normal({kCols}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(rms_norm(x, w, 1e-5));
  bytes(s, 2.0 * 4.0 * double(kRows * kCols));
}
BENCHMARK(BM_rms_norm)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_rms_norm_fwd_bwd(benchmark::State& s) {
  Tensor x = Tensor::normal({kRows, kCols}, 1).set_requires_grad(true);
  Tensor w = Tensor::normal({kCols}, 2).set_requires_grad(true);
  Tensor g = Tensor::normal({kRows, kCols}, 3);
  for (auto _ : s) {
    x.zero_grad(), w.zero_grad();
    rms_norm(x, w, 1e-5).backward(g);
  }
  bytes(s, 5.0 * 4.0 * double(kRows * kCols));  // fwd: read x, write y; bwd: read x, g, write dx
}
BENCHMARK(BM_rms_norm_fwd_bwd)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_rope(benchmark::State& s) {
  NoGrad ng;
  RopeConfig cfg;
  cfg.dim = 64;
  cfg.theta = 500000;
  Tensor x = Tensor::normal({1, kRows, kCols / 64, 64}, 1);
  for (auto _ : s) benchmark::DoNotOptimize(rope(x, cfg));
  bytes(s, 2.0 * 4.0 * double(kRows * kCols));
}
BENCHMARK(BM_rope)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_softmax(benchmark::State& s) {
  NoGrad ng;
  Tensor x = Tensor::normal({kRows, kCols}, 1);
  for (auto _ : s) benchmark::DoNotOptimize(softmax(x, -1));
  bytes(s, 2.0 * 4.0 * double(kRows * kCols));
}
BENCHMARK(BM_softmax)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_cross_entropy(benchmark::State& s) {
  NoGrad ng;
  int64_t V = 32000, N = 1024;
  Tensor x = Tensor::normal({N, V}, 1);
  std::vector<int32_t> t(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) t[size_t(i)] = int32_t((i * 7919) % V);
  Tensor tg = Tensor::from_vector(t, {N});
  for (auto _ : s) benchmark::DoNotOptimize(cross_entropy(x, tg));
  bytes(s, 4.0 * double(N * V));
}
BENCHMARK(BM_cross_entropy)->Unit(benchmark::kMillisecond)->UseRealTime();
