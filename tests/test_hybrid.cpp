// The hybrid decoder: decode caches against the full forward, the all-attention hybrid against its
// teacher, checkpoints and config.json round trips, KV accounting, plans, gradients.
#include "models/hybrid.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "core/safetensors.h"
#include "models/hf.h"
#include "models/upcycle.h"
#include "ops/ops.h"
#include "tests/test_util.h"

using namespace zebra;
using namespace zebra::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
LlamaConfig teacher_config() {
  LlamaConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.num_layers = 4;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.intermediate_size = 48;
  c.tie_word_embeddings = false;
  return c;
}

const std::vector<MixerKind> kMixed = {MixerKind::Mla, MixerKind::Mamba2, MixerKind::Attention, MixerKind::Mamba2};

HybridModel mixed_hybrid(const LlamaModel& teacher) {
  return HybridModel::from_teacher(teacher, kMixed, mla_config_for(teacher.config(), 16, 16, 4, 4), 5);
}

Tensor ids_for(int64_t B, int64_t T, uint64_t seed) {
  std::vector<int64_t> v(size_t(B * T));
  for (size_t i = 0; i < v.size(); ++i) v[i] = int64_t((i * 7 + seed * 13 + (i * i) % 11) % 50);
  return Tensor::from_vector(v, {B, T});
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::temp_directory_path() / ("zebra_hybrid_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

HybridConfig one_b(const std::vector<int64_t>& mla_layers) {
  LlamaConfig t;
  t.vocab_size = 128256, t.hidden_size = 2048, t.num_layers = 16, t.num_heads = 32, t.num_kv_heads = 8;
  t.head_dim = 64, t.intermediate_size = 8192, t.rope_theta = 500000;
  t.rope_scaling.type = RopeScaling::Type::Llama3;
  t.rope_scaling.factor = 32;
  HybridConfig c;
  c.teacher = t;
  c.plan = plan_with_mla_at(16, mla_layers);
  c.mla = mla_config_for(t, 1344, 128, 32, 32);
  c.mamba2 = mamba2_config_for(t);
  return c;
}
}  // namespace

TEST(Hybrid, DecodeWithCacheEqualsFullForward) {
  LlamaModel teacher(teacher_config(), 3, 0.2);
  HybridModel m0 = mixed_hybrid(teacher);
  // The same weights with Mamba2 chunks of 256 (one chunk) and of 3 (prefill and the 3-token chunk
  // cross chunk boundaries).
  for (int64_t chunk : {256, 3}) {
    HybridConfig cfg = m0.config();
    cfg.mamba2.chunk_size = chunk;
    HybridModel m = HybridModel::uninitialized(cfg);
    for (size_t i = 0; i < m.params().items().size(); ++i)
      m.params().items()[i].second.detach().copy_(m0.params().items()[i].second.detach());
    NoGrad ng;
    const int64_t B = 2, T = 12;
    Tensor ids = ids_for(B, T, 1);
    Tensor full = m.forward(ids);  // [B, T, V]
    HybridCache cache = m.make_cache(B, 16);
    // Prefill 5, then a 3-token chunk (Mamba2 forward continuing the state, MLA step with T > 1),
    // then single tokens (Mamba2 step).
    std::vector<std::pair<int64_t, int64_t>> segments = {{0, 5}, {5, 8}, {8, 9}, {9, 10}, {10, 11}, {11, 12}};
    for (auto [a, b] : segments) {
      Tensor got = m.forward(slice(ids, 1, a, b), &cache);
      EXPECT_TRUE(all_close(got, slice(full, 1, a, b).contiguous(), 2e-5, 2e-4))
          << "chunk " << chunk << ", tokens " << a << ".." << b;
      EXPECT_EQ(cache.length, b);
    }
    // Byte accounting per kind: K and V of the one attention layer, [c | k_rope] of the MLA layer, and
    // conv (K-1)*C_conv + SSM H*P*N of the two Mamba2 layers, all f32.
    const Mamba2Config& mc = m.config().mamba2;
    EXPECT_EQ(cache.kv_bytes(), 2 * B * 16 * 2 * 8 * 4);
    EXPECT_EQ(cache.latent_bytes(), B * 16 * (16 + 4) * 4);
    EXPECT_EQ(cache.state_bytes(), 2 * B * (3 * mc.conv_channels() + 4 * 8 * 8) * 4);
    EXPECT_EQ(cache.bytes(), cache.kv_bytes() + cache.latent_bytes() + cache.state_bytes());
    EXPECT_ERROR(m.forward(ids_for(B, 5, 2), &cache), "overflow the cache (12 of 16 positions used)");
    HybridCache wrong = m.make_cache(1, 16);
    EXPECT_ERROR(m.forward(ids_for(B, 1, 2), &wrong), "does not match the cache's 1");
  }
}

TEST(Hybrid, AllAttentionHybridEqualsTheTeacherExactly) {
  for (bool tied : {false, true}) {
    LlamaConfig tc = teacher_config();
    tc.tie_word_embeddings = tied;
    LlamaModel teacher(tc, 7, 0.2);
    HybridModel m = HybridModel::from_teacher(teacher, std::vector<MixerKind>(4, MixerKind::Attention), MlaConfig{}, 1);
    EXPECT_EQ(m.params().numel(), teacher.params().numel());
    NoGrad ng;
    Tensor ids = ids_for(2, 7, 3);
    EXPECT_TRUE(all_close(m.forward(ids), teacher.forward(ids), 0, 0)) << "tied " << tied;
    HybridCache hc = m.make_cache(2, 8);
    KVCache kc = teacher.make_cache(2, 8);
    Tensor a = m.forward(slice(ids, 1, 0, 4), &hc), b = teacher.forward(slice(ids, 1, 0, 4), &kc);
    EXPECT_TRUE(all_close(a, b, 0, 0));
    EXPECT_TRUE(all_close(m.forward(slice(ids, 1, 4, 5), &hc), teacher.forward(slice(ids, 1, 4, 5), &kc), 0, 0));
    EXPECT_EQ(hc.kv_bytes(), kc.bytes());
  }
}

TEST(Hybrid, FromTeacherCopiesAndInitialisesEveryMixer) {
  LlamaModel teacher(teacher_config(), 3, 0.2);
  HybridModel m = mixed_hybrid(teacher);
  const ParamStore& tp = teacher.params();
  for (const char* n : {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                        "model.layers.1.mlp.down_proj.weight", "model.layers.2.self_attn.k_proj.weight",
                        "model.layers.3.post_attention_layernorm.weight"})
    EXPECT_TRUE(bit_equal(m.params().get(n), tp.get(n))) << n;
  EXPECT_FALSE(m.params().has("model.layers.0.self_attn.q_proj.weight"));
  // The mixers carry the teacher's projections as upcycle.h maps them.
  EXPECT_TRUE(bit_equal(m.params().get("model.layers.0.mla.out_proj.weight"),
                        tp.get("model.layers.0.self_attn.o_proj.weight")));
  EXPECT_TRUE(bit_equal(slice(m.params().get("model.layers.3.mamba.in_proj.weight"), 0, 32, 48),
                        tp.get("model.layers.3.self_attn.v_proj.weight")));
  // The registration order is parameter_shapes'.
  auto shapes = HybridModel::parameter_shapes(m.config());
  ASSERT_EQ(shapes.size(), m.params().items().size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_EQ(shapes[i].first, m.params().items()[i].first);
    EXPECT_EQ(shapes[i].second, m.params().items()[i].second.shape());
  }
}

TEST(Hybrid, SaveLoadRoundTripIsBitExact) {
  LlamaModel teacher(teacher_config(), 3, 0.2);
  HybridModel m = mixed_hybrid(teacher);
  TempDir dir("rt");
  save_hybrid(m, dir.path.string());
  EXPECT_TRUE(is_hybrid_dir(dir.path.string()));
  HybridModel back = load_hybrid(dir.path.string());
  EXPECT_EQ(hybrid_config_json(back.config()), hybrid_config_json(m.config()));
  ASSERT_EQ(back.params().items().size(), m.params().items().size());
  for (size_t i = 0; i < m.params().items().size(); ++i) {
    EXPECT_EQ(back.params().items()[i].first, m.params().items()[i].first);
    EXPECT_TRUE(bit_equal(back.params().items()[i].second, m.params().items()[i].second)) << m.params().items()[i].first;
  }
  NoGrad ng;
  Tensor ids = ids_for(1, 6, 4);
  EXPECT_TRUE(all_close(back.forward(ids), m.forward(ids), 0, 0));

  // A teacher directory is not a hybrid one, and a missing directory is neither.
  TempDir tdir("teacher");
  save_hf_model(teacher, tdir.path.string());
  EXPECT_FALSE(is_hybrid_dir(tdir.path.string()));
  EXPECT_FALSE(is_hybrid_dir((dir.path / "nope").string()));
  EXPECT_ERROR(load_hybrid(tdir.path.string()), "missing field 'zebra_hybrid'");

  // Missing and mis-shaped tensors are named.
  const std::string st = (dir.path / "model.safetensors").string();
  NamedTensors ts;
  for (auto& [n, t] : m.params().items())
    if (n != "model.layers.1.mamba.D") ts.push_back({n, t.detach()});
  save_safetensors(st, ts);
  EXPECT_ERROR(load_hybrid(dir.path.string()), "missing tensor 'model.layers.1.mamba.D'");
  ts.push_back({"model.layers.1.mamba.D", Tensor::zeros({5})});
  save_safetensors(st, ts);
  EXPECT_ERROR(load_hybrid(dir.path.string()), "tensor 'model.layers.1.mamba.D' has shape [5], expected [4]");
  ts.back().second = Tensor::zeros({4});
  ts.push_back({"model.layers.9.extra", Tensor::zeros({1})});
  save_safetensors(st, ts);
  EXPECT_ERROR(load_hybrid(dir.path.string()), "unexpected tensor 'model.layers.9.extra'");
}

TEST(Hybrid, ConfigJsonRoundTripAndErrors) {
  LlamaConfig tc = teacher_config();
  tc.rope_scaling.type = RopeScaling::Type::Llama3;
  tc.rope_scaling.factor = 8;
  HybridConfig c;
  c.teacher = tc;
  c.plan = kMixed;
  c.mla = mla_config_for(tc, 16, 16, 4, 4);
  c.mamba2 = mamba2_config_for(tc);
  c.mamba2.dt_min = 0.001;
  json j = hybrid_config_json(c);
  EXPECT_EQ(j["layer_types"], json({"mla", "mamba2", "attention", "mamba2"}));
  EXPECT_EQ(j["mla_config"]["kv_lora_rank"], 16);
  EXPECT_EQ(j["mla_config"]["rope"]["rope_type"], "yarn");
  EXPECT_TRUE(j["mamba2_config"]["dt_max"].is_null());
  HybridConfig back = parse_hybrid_config(j, "cfg");
  EXPECT_EQ(hybrid_config_json(back), j);
  EXPECT_EQ(back.plan, c.plan);
  EXPECT_EQ(back.mla.rope.scaling.factor, 8);
  EXPECT_TRUE(back.mla.rope.interleaved);
  EXPECT_EQ(back.mamba2.dt_min, 0.001);
  EXPECT_EQ(back.mamba2.x_heads, 2);
  // Without MLA layers the MLA section is neither written nor needed.
  HybridConfig no_mla = c;
  no_mla.plan = std::vector<MixerKind>(4, MixerKind::Mamba2);
  no_mla.mla = MlaConfig{};
  EXPECT_FALSE(hybrid_config_json(no_mla).contains("mla_config"));
  EXPECT_EQ(parse_hybrid_config(hybrid_config_json(no_mla), "cfg").plan, no_mla.plan);

  auto bad = [&](auto edit) {
    json e = j;
    edit(e);
    return e;
  };
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["layer_types"][1] = "gdn2"; }), "cfg"),
               "cfg: field 'layer_types[1]': unknown mixer 'gdn2' (known: attention, mla, mamba2)");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["layer_types"].erase(0); }), "cfg"),
               "field 'layer_types' has 3 entries but num_hidden_layers is 4");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["layer_types"][0] = 3; }), "cfg"),
               "field 'layer_types[0]' must be a string");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["mla_config"]["hidden_size"] = 31; }), "cfg"),
               "field 'mla_config.hidden_size' (31) must equal hidden_size (32)");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["mla_config"].erase("kv_lora_rank"); }), "cfg"),
               "cfg: missing field 'mla_config.kv_lora_rank'");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["mla_config"]["rope"]["dim"] = 6; }), "cfg"),
               "rope.dim (6) must equal qk_rope_dim (4)");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["mamba2_config"]["d_inner"] = 40; }), "cfg"),
               "mamba2 config: d_inner (40)");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["mamba2_config"]["d_state"] = "8"; }), "cfg"),
               "field 'mamba2_config.d_state' must be an integer");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e.erase("mamba2_config"); }), "cfg"),
               "missing field 'mamba2_config'");
  EXPECT_ERROR(parse_hybrid_config(bad([](json& e) { e["zebra_hybrid"] = 2; }), "cfg"), "field 'zebra_hybrid' is 2");
}

TEST(Hybrid, KvAccountingOfTheLlama1BPlans) {
  KvAccounting a = kv_accounting(one_b({0, 5, 10, 14}));
  EXPECT_EQ(a.teacher_values_per_token, 16384);
  EXPECT_EQ(a.hybrid_values_per_token, 4 * 160);
  EXPECT_DOUBLE_EQ(a.percent, 3.90625);
  EXPECT_EQ(a.mla_layers, 4);
  EXPECT_EQ(a.mamba2_layers, 12);
  // conv 3 x 3072 + SSM 32 x 64 x 64 values per layer, f32.
  EXPECT_EQ(a.mamba2_state_bytes_per_layer, (3 * 3072 + 32 * 64 * 64) * 4);
  EXPECT_EQ(a.mamba2_state_bytes, 12 * a.mamba2_state_bytes_per_layer);
  KvAccounting b = kv_accounting(one_b({0, 2, 4, 6, 8, 10, 12, 14}));
  EXPECT_DOUBLE_EQ(b.percent, 7.8125);
  EXPECT_EQ(b.mamba2_state_bytes, 8 * a.mamba2_state_bytes_per_layer);
  // Attention layers count their full K and V.
  HybridConfig c = one_b({0});
  c.plan[1] = MixerKind::Attention;
  KvAccounting d = kv_accounting(c);
  EXPECT_EQ(d.hybrid_values_per_token, 160 + 2 * 8 * 64);
  EXPECT_EQ(d.attention_layers, 1);
}

TEST(Hybrid, PlanErrors) {
  EXPECT_EQ(plan_with_mla_at(3, {2}), (std::vector<MixerKind>{MixerKind::Mamba2, MixerKind::Mamba2, MixerKind::Mla}));
  EXPECT_ERROR(plan_with_mla_at(16, {0, 16}), "mla layer 16 out of range for a 16-layer model");
  EXPECT_ERROR(plan_with_mla_at(16, {-1}), "mla layer -1 out of range");
  EXPECT_ERROR(plan_with_mla_at(16, {5, 3, 5}), "mla layer 5 is listed twice");
  EXPECT_ERROR(parse_mixer("gdn", "--plan"), "--plan: unknown mixer 'gdn'");
  EXPECT_EQ(parse_mixer("mamba2"), MixerKind::Mamba2);
  HybridConfig c = one_b({0});
  c.plan.pop_back();
  EXPECT_ERROR(c.validate(), "layer_types has 15 entries but num_hidden_layers is 16");
  // A teacher whose ranks do not fit refuses the MLA init.
  LlamaModel teacher(teacher_config(), 3);
  EXPECT_ERROR(HybridModel::from_teacher(teacher, kMixed, mla_config_for(teacher.config(), 16, 40, 4, 4), 1),
               "kv_lora_rank 40 exceeds the rank bound 32");
}

TEST(Hybrid, GradientsReachEveryParameter) {
  LlamaModel teacher(teacher_config(), 3, 0.2);
  HybridModel m = mixed_hybrid(teacher);
  Tensor logits = m.forward(ids_for(2, 5, 6));  // [2, 5, 50]
  Tensor loss = sum(mul(logits, randn(logits.shape(), 8)));
  loss.backward();
  for (auto& [name, p] : m.params().items()) {
    Tensor g = p.grad();
    ASSERT_TRUE(g.defined()) << name;
    EXPECT_EQ(g.shape(), p.shape()) << name;
    double norm = 0;
    for (double v : g.to_double()) {
      ASSERT_TRUE(std::isfinite(v)) << name;
      norm += v * v;
    }
    EXPECT_GT(norm, 0.0) << name;
  }
}
