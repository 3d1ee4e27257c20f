// Upcycling: the Mamba2 mapping puts each teacher weight where RECIPE.md says.
#include "models/upcycle.h"
#include "ops/shape_ops.h"
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
