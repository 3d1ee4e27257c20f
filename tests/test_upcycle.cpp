// Upcycling: the Mamba2 mapping puts each teacher weight where RECIPE.md says.
#include "models/upcycle.h"
#include "autograd/node.h"
#include "ops/ops.h"
#include "tests/test_util.h"

using namespace zebra;
using namespace zebra::test;

namespace {
LlamaConfig teacher_config() {
  LlamaConfig c;
  c.vocab_size = 50;
  c.hidden_size = 48;
  c.num_layers = 3;
  c.num_heads = 6;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.intermediate_size = 64;
  return c;
}
}  // namespace

TEST(Upcycle, Mamba2ConfigMirrorsTheTeacher) {
  LlamaConfig t = teacher_config();
  Mamba2Config m = mamba2_config_for(t);
  EXPECT_EQ(m.d_inner, 48);
  EXPECT_EQ(m.x_heads, 2);
  EXPECT_EQ(m.b_groups, 2);
  EXPECT_EQ(m.n_groups, 6);
  EXPECT_EQ(m.d_state, 8);
  // Llama-3.2-1B: in_proj 5152 rows, conv over 3072 channels (RECIPE's published layout).
  LlamaConfig big;
  big.hidden_size = 2048, big.num_heads = 32, big.num_kv_heads = 8, big.head_dim = 64;
  Mamba2Config b = mamba2_config_for(big);
  EXPECT_EQ(b.in_proj_rows(), 5152);
  EXPECT_EQ(b.conv_channels(), 3072);
}

TEST(Upcycle, Mamba2MappingPlacesEveryTeacherWeight) {
  LlamaConfig tc = teacher_config();
  LlamaModel teacher(tc, 3, 0.5);
  Mamba2Config mc = mamba2_config_for(tc);
  ParamStore store;
  const std::string pre = "model.layers.1.mamba.";
  Mamba2Layer::init_params(mc, store, pre, 7);
  Tensor before = store.get(pre + "in_proj.weight").detach().clone();
  init_mamba2_from_attention(teacher, 1, mc, store, pre);
  Tensor in = store.get(pre + "in_proj.weight").detach();
  auto rows = [&](const Tensor& t, int64_t a, int64_t b) { return slice(t, 0, a, b); };
  const std::string tp = "model.layers.1.self_attn.";
  const int64_t z = 48, kv = 16, q = 48;
  EXPECT_TRUE(all_close(rows(in, z, z + kv), teacher.params().get(tp + "v_proj.weight").detach(), 0, 0));       // x <- V
  EXPECT_TRUE(all_close(rows(in, z + kv, z + 2 * kv), teacher.params().get(tp + "k_proj.weight").detach(), 0, 0));  // B <- K
  EXPECT_TRUE(all_close(rows(in, z + 2 * kv, z + 2 * kv + q), teacher.params().get(tp + "q_proj.weight").detach(), 0, 0));  // C <- Q
  EXPECT_TRUE(all_close(store.get(pre + "out_proj.weight").detach(), teacher.params().get(tp + "o_proj.weight").detach(), 0, 0));
  // z and dt rows keep their initial values.
  EXPECT_TRUE(all_close(rows(in, 0, z), rows(before, 0, z), 0, 0));
  EXPECT_TRUE(all_close(rows(in, z + 2 * kv + q, mc.in_proj_rows()), rows(before, z + 2 * kv + q, mc.in_proj_rows()), 0, 0));
  // The mapped layer runs.
  Mamba2Layer layer(mc, store, pre);
  Tensor y = layer.forward(randn({1, 5, 48}, 9)).y;
  EXPECT_EQ(y.shape(), (Shape{1, 5, 48}));
}

TEST(Upcycle, Mamba2MappingErrors) {
  LlamaConfig tc = teacher_config();
  LlamaModel teacher(tc, 3);
  ParamStore store;
  Mamba2Config mc = mamba2_config_for(tc);
  Mamba2Layer::init_params(mc, store, "m.", 1);
  EXPECT_ERROR(init_mamba2_from_attention(teacher, 3, mc, store, "m."), "layer 3 out of range");
  Mamba2Config wrong = Mamba2Config::standard(48, 2, 16, 16, 1);
  ParamStore s2;
  Mamba2Layer::init_params(wrong, s2, "m.", 1);
  EXPECT_ERROR(init_mamba2_from_attention(teacher, 0, wrong, s2, "m."), "does not mirror");
}

namespace {
// The teacher's attention sub-layer on its own: x [B, T, d] -> o_proj(attention(...)).
Tensor teacher_attention(const LlamaModel& m, int64_t layer, const Tensor& x) {
  const LlamaConfig& c = m.config();
  const std::string p = "model.layers." + std::to_string(layer) + ".self_attn.";
  const int64_t B = x.size(0), T = x.size(1);
  RopeConfig rc;
  rc.dim = c.head_dim;
  rc.theta = c.rope_theta;
  Tensor q = rope(reshape(linear(x, m.params().get(p + "q_proj.weight")), {B, T, c.num_heads, c.head_dim}), rc);
  Tensor k = rope(reshape(linear(x, m.params().get(p + "k_proj.weight")), {B, T, c.num_kv_heads, c.head_dim}), rc);
  Tensor v = reshape(linear(x, m.params().get(p + "v_proj.weight")), {B, T, c.num_kv_heads, c.head_dim});
  return linear(reshape(causal_attention(q, k, v), {B, T, c.num_heads * c.head_dim}), m.params().get(p + "o_proj.weight"));
}

MlaConfig mla_for(const LlamaConfig& t, int64_t r_q, int64_t r_kv, int64_t d_nope, int64_t d_rope, int64_t kv_heads) {
  MlaConfig m;
  m.d_model = t.hidden_size;
  m.n_heads = t.num_heads;
  m.kv_heads = kv_heads;
  m.q_lora_rank = r_q;
  m.kv_lora_rank = r_kv;
  m.qk_nope_dim = d_nope;
  m.qk_rope_dim = d_rope;
  m.v_head_dim = t.head_dim;
  m.rope.dim = d_rope;
  m.rope.theta = t.rope_theta;
  return m;
}

double rel_err(const Tensor& a, const Tensor& b) {
  auto x = a.to_double(), y = b.to_double();
  double n = 0, d = 0;
  for (size_t i = 0; i < x.size(); ++i) n += (x[i] - y[i]) * (x[i] - y[i]), d += y[i] * y[i];
  return std::sqrt(n / d);
}
}  // namespace

TEST(Upcycle, FullRankSvdMlaReproducesTheTeacherLayer) {
  // Test-only setting: one kv head (so the shared rope key is exact), d_nope = 0 and d_rope = head_dim
  // with the teacher's half-split RoPE, full ranks.
  LlamaConfig tc = teacher_config();
  tc.hidden_size = 32, tc.num_heads = 4, tc.num_kv_heads = 1, tc.head_dim = 8;
  LlamaModel teacher(tc, 11, 0.3);
  for (bool lora : {true, false}) {
    MlaConfig mc = mla_for(tc, lora ? 32 : 0, 16, 0, 8, 1);
    MlaLayer mla(mc, "mla.");
    ParamStore store;
    mla.add_parameters(store, 1);
    MlaInitReport rep = init_mla_from_attention(teacher, 2, mc, store, "mla.");
    EXPECT_NEAR(rep.q_energy, 1.0, 1e-12);
    EXPECT_NEAR(rep.kv_energy, 1.0, 1e-12);
    NoGrad ng;
    Tensor x = randn({2, 9, 32}, 5);
    EXPECT_LT(rel_err(mla.forward(store, x), teacher_attention(teacher, 2, x)), 2e-5) << "lora " << lora;
  }
}

TEST(Upcycle, SvdTruncationErrorFallsWithRank) {
  LlamaConfig tc = teacher_config();  // 6 heads, 2 kv heads of 8, hidden 48
  LlamaModel teacher(tc, 13, 0.3);
  NoGrad ng;
  Tensor x = randn({1, 7, 48}, 6);
  // Values alone: with d_nope + d_rope = head_dim every value row is kept, so the value path's
  // error is the truncation's; compare the whole layer against the full-rank MLA of the same shape.
  MlaConfig full = mla_for(tc, 48, 32, 4, 4, 2);
  MlaLayer ref_layer(full, "m.");
  ParamStore ref_store;
  ref_layer.add_parameters(ref_store, 1);
  init_mla_from_attention(teacher, 0, full, ref_store, "m.");
  Tensor ref = ref_layer.forward(ref_store, x);
  double prev = 1e30, prev_q = -1, prev_kv = -1;
  for (int64_t r : {8, 16, 24, 32}) {
    MlaConfig mc = mla_for(tc, std::min<int64_t>(48, r + 16), r, 4, 4, 2);
    MlaLayer layer(mc, "m.");
    ParamStore store;
    layer.add_parameters(store, 1);
    MlaInitReport rep = init_mla_from_attention(teacher, 0, mc, store, "m.");
    double err = rel_err(layer.forward(store, x), ref);
    EXPECT_LT(err, prev) << "rank " << r;
    EXPECT_GT(rep.kv_energy, prev_kv);
    EXPECT_GE(rep.q_energy, prev_q);
    prev = err, prev_kv = rep.kv_energy, prev_q = rep.q_energy;
  }
  EXPECT_LT(prev, 1e-5);  // rank 32 = the full rank of [W_k; W_v] (2 kv heads x 8 x 2)
}

TEST(Upcycle, EnergyRankAndBadPlans) {
  Tensor s = Tensor::from_vector(std::vector<float>{10, 5, 1, 1, 0.5f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f}, {10});
  EXPECT_EQ(energy_rank(s, 0.5), 8);   // 1 value holds 78%: rounded up to 8
  EXPECT_EQ(energy_rank(s, 1.0), 10);  // capped at the count
  EXPECT_ERROR(energy_rank(s, 0.0), "delta must be in (0, 1]");
  LlamaConfig tc = teacher_config();
  LlamaModel teacher(tc, 3);
  MlaConfig too_big = mla_for(tc, 48, 40, 4, 4, 2);  // [W_k; W_v] is [32, 48]: rank <= 32
  MlaLayer layer(too_big, "m.");
  ParamStore store;
  layer.add_parameters(store, 1);
  EXPECT_ERROR(init_mla_from_attention(teacher, 0, too_big, store, "m."), "kv_lora_rank 40 exceeds the rank bound 32");
  MlaConfig q_big = mla_for(tc, 64, 16, 4, 4, 2);
  MlaLayer l2(q_big, "m.");
  ParamStore s2;
  l2.add_parameters(s2, 1);
  EXPECT_ERROR(init_mla_from_attention(teacher, 0, q_big, s2, "m."), "q_lora_rank 64 exceeds the rank bound 48");
  EXPECT_ERROR(init_mla_from_attention(teacher, 9, q_big, s2, "m."), "layer 9 out of range");
  MlaConfig wide = mla_for(tc, 16, 16, 8, 4, 2);  // d_nope + d_rope = 12 > head_dim 8
  MlaLayer l3(wide, "m.");
  ParamStore s3;
  l3.add_parameters(s3, 1);
  EXPECT_ERROR(init_mla_from_attention(teacher, 0, wide, s3, "m."), "exceed the teacher's head_dim 8");
}
