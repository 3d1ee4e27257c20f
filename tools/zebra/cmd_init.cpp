// `zebra init`: build a hybrid student from a teacher checkpoint (RECIPE.md, stage 1 "Init"): MLA
// layers by SVD, Mamba2 layers by the MambaInLlama mapping, everything else copied.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "models/hf.h"
#include "models/hybrid.h"
#include "models/upcycle.h"
#include "ops/linalg.h"
#include "tools/zebra/commands.h"

namespace zebra::cli {

namespace {
namespace fs = std::filesystem;

// "0,5,10,14" -> {0, 5, 10, 14}; anything else is an error naming the bad piece.
std::vector<int64_t> parse_layer_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string piece;
  while (std::getline(ss, piece, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(piece, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ZCHECK(used == piece.size() && !piece.empty(), "--mla-layers: '", piece, "' is not a layer index (expected e.g. 0,5,10,14)");
    out.push_back(v);
  }
  ZCHECK(!out.empty(), "--mla-layers: no layers given");
  return out;
}

// A JSON file {"layer_types": ["mla", "mamba2", ...]} with one entry per teacher layer.
std::vector<MixerKind> read_plan_file(const std::string& path, int64_t num_layers) {
  std::ifstream in(path);
  ZCHECK(in, "--plan: cannot open ", path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  ZCHECK(j.is_object() && j.contains("layer_types") && j["layer_types"].is_array(), "--plan: ", path,
         " must hold {\"layer_types\": [...]}");
  const auto& t = j["layer_types"];
  ZCHECK(int64_t(t.size()) == num_layers, "--plan: ", path, " lists ", t.size(), " layers; the teacher has ", num_layers);
  std::vector<MixerKind> plan;
  for (size_t i = 0; i < t.size(); ++i) {
    std::string field = "--plan: layer_types[" + std::to_string(i) + "]";
    ZCHECK(t[i].is_string(), field, " must be a string, got ", t[i].dump());
    plan.push_back(parse_mixer(t[i].get<std::string>(), field));
  }
  return plan;
}

int64_t round_up8(int64_t v) { return (v + 7) / 8 * 8; }

struct Args {
  std::string teacher, out, mla_layers, plan_file;
  bool all_mla = false, all_mamba2 = false;
  int64_t q_rank = -1, kv_rank = -1, rope_dim = -1, nope_dim = -1;
  double energy = 0.0;
  uint64_t seed = 0;
};

// The MLA dimensions from the flags, defaulting to RECIPE's 1B values scaled to the teacher
// (d_rope = d_nope = head_dim / 2, r_kv = 128, r_q = 1344/2048 of hidden), capped at the ranks the
// SVD init can give; refuses what the teacher cannot support.
MlaConfig mla_dims(const Args& a, const LlamaConfig& t) {
  const int64_t p = t.head_dim, q_bound = std::min(t.num_heads * p, t.hidden_size),
                kv_bound = std::min(2 * t.num_kv_heads * p, t.hidden_size);
  const int64_t rope = a.rope_dim >= 0 ? a.rope_dim : p / 2 / 2 * 2;
  const int64_t nope = a.nope_dim >= 0 ? a.nope_dim : p / 2;
  const int64_t kv = a.kv_rank >= 0 ? a.kv_rank : std::min<int64_t>(128, kv_bound);
  const int64_t q = a.q_rank >= 0 ? a.q_rank : std::min(round_up8(t.hidden_size * 1344 / 2048), q_bound);
  ZCHECK(rope > 0 && rope % 2 == 0, "--rope-dim: ", rope, " must be positive and even");
  ZCHECK(rope + nope <= p, "--rope-dim + --nope-dim: ", rope, " + ", nope, " exceed the teacher's head_dim ", p);
  ZCHECK(kv > 0 && kv <= kv_bound, "--kv-rank: ", kv, " is outside 1..", kv_bound,
         " (the rank of the teacher's stacked key/value projections)");
  ZCHECK(q >= 0 && q <= q_bound, "--q-rank: ", q, " is outside 0..", q_bound, " (the rank of the teacher's q_proj; 0 = no ",
         "low-rank query)");
  return mla_config_for(t, q, kv, rope, nope);
}

std::string human_bytes(int64_t b) {
  char s[64];
  if (b >= (1 << 20)) std::snprintf(s, sizeof s, "%.2f MiB", double(b) / (1 << 20));
  else std::snprintf(s, sizeof s, "%.2f KiB", double(b) / 1024);
  return s;
}

int run_init(const Args& a) {
  const int choices = int(!a.mla_layers.empty()) + int(a.all_mla) + int(a.all_mamba2) + int(!a.plan_file.empty());
  ZCHECK(choices == 1, "init: give exactly one of --mla-layers, --all-mla, --all-mamba2, --plan");
  ZCHECK(a.energy == 0.0 || a.q_rank < 0, "init: --energy chooses the query rank; drop --q-rank");
  ZCHECK(a.energy == 0.0 || (a.energy > 0.0 && a.energy <= 1.0), "--energy: ", a.energy, " must be in (0, 1]");
  // Every check that needs only the teacher's config.json runs before its weights are read.
  LlamaConfig tc = load_hf_config(a.teacher);
  const int64_t L = tc.num_layers;
  std::vector<MixerKind> plan;
  if (a.all_mla) plan = std::vector<MixerKind>(size_t(L), MixerKind::Mla);
  else if (a.all_mamba2) plan = std::vector<MixerKind>(size_t(L), MixerKind::Mamba2);
  else if (!a.plan_file.empty()) plan = read_plan_file(a.plan_file, L);
  else plan = plan_with_mla_at(L, parse_layer_list(a.mla_layers));
  const bool any_mla = std::count(plan.begin(), plan.end(), MixerKind::Mla) > 0;
  const bool any_student = std::count(plan.begin(), plan.end(), MixerKind::Attention) < L;
  ZCHECK(!any_student || !tc.attention_bias, "init: the teacher's attention has biases, which MLA and Mamba2 have no ",
         "place for");
  MlaConfig mla = any_mla ? mla_dims(a, tc) : MlaConfig{};

  LlamaModel teacher = load_hf_model(a.teacher);
  if (any_mla && a.energy > 0.0) {
    // One r_q serves every MLA layer: the largest that any of them needs to keep the energy.
    NoGrad ng;
    int64_t r = 0;
    for (int64_t i = 0; i < L; ++i)
      if (plan[size_t(i)] == MixerKind::Mla) {
        Svd f = svd(teacher.params().get("model.layers." + std::to_string(i) + ".self_attn.q_proj.weight").detach());
        r = std::max(r, energy_rank(f.S, a.energy));
      }
    mla.q_lora_rank = r;
  }
  HybridModel m = HybridModel::from_teacher(teacher, plan, mla, a.seed);
  KvAccounting acc = kv_accounting(m.config());

  std::string layers;
  for (MixerKind k : plan) layers += layers.empty() ? mixer_name(k) : std::string(" ") + mixer_name(k);
  std::printf("teacher: %s, %lld layers, %lld parameters\n", tc.model_type.c_str(), (long long)L,
              (long long)teacher.params().numel());
  std::printf("plan: %s (attention %lld, mla %lld, mamba2 %lld)\n", layers.c_str(), (long long)acc.attention_layers,
              (long long)acc.mla_layers, (long long)acc.mamba2_layers);
  if (any_mla)
    std::printf("mla: q_rank %lld, kv_rank %lld, rope_dim %lld, nope_dim %lld, v_head_dim %lld\n",
                (long long)mla.q_lora_rank, (long long)mla.kv_lora_rank, (long long)mla.qk_rope_dim,
                (long long)mla.qk_nope_dim, (long long)mla.v_head_dim);
  std::printf("parameters: %lld\n", (long long)m.params().numel());
  std::printf("kv cache per token: %lld values (%lld bytes bf16) vs teacher %lld (%lld bytes bf16): %.2f%%\n",
              (long long)acc.hybrid_values_per_token, (long long)acc.hybrid_values_per_token * 2,
              (long long)acc.teacher_values_per_token, (long long)acc.teacher_values_per_token * 2, acc.percent);
  std::printf("mamba2 state per sequence: %lld bytes f32 (%s; %lld layers x %lld)\n", (long long)acc.mamba2_state_bytes,
              human_bytes(acc.mamba2_state_bytes).c_str(), (long long)acc.mamba2_layers,
              (long long)acc.mamba2_state_bytes_per_layer);

  save_hybrid(m, a.out);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}) {
    fs::path src = fs::path(a.teacher) / f;
    if (fs::exists(src)) fs::copy_file(src, fs::path(a.out) / f, fs::copy_options::overwrite_existing);
  }
  std::printf("wrote %s\n", a.out.c_str());
  return 0;
}
}  // namespace

void register_init(CLI::App& app) {
  auto* sub = app.add_subcommand("init", "Build a Mamba2/MLA hybrid student from a teacher checkpoint");
  auto a = std::make_shared<Args>();
  sub->add_option("--teacher", a->teacher, "teacher Hugging Face model directory")->required()->check(CLI::ExistingDirectory);
  sub->add_option("--out", a->out, "output directory for the hybrid")->required();
  sub->add_option("--mla-layers", a->mla_layers, "comma-separated MLA layer indices; the others become Mamba2");
  sub->add_flag("--all-mla", a->all_mla, "every layer MLA");
  sub->add_flag("--all-mamba2", a->all_mamba2, "every layer Mamba2");
  sub->add_option("--plan", a->plan_file, "JSON file {\"layer_types\": [\"mla\", \"mamba2\", \"attention\", ...]}");
  sub->add_option("--q-rank", a->q_rank, "MLA query rank r_q (default 1344/2048 of hidden; 0 = full q_proj)");
  sub->add_option("--kv-rank", a->kv_rank, "MLA latent rank r_kv (default 128)");
  sub->add_option("--rope-dim", a->rope_dim, "MLA rotary dims per head (default head_dim / 2)");
  sub->add_option("--nope-dim", a->nope_dim, "MLA non-rotary query/key dims per head (default head_dim / 2)");
  sub->add_option("--energy", a->energy, "choose r_q as the smallest rank keeping this fraction of q_proj's energy");
  sub->add_option("--seed", a->seed, "seed of the initialisations that do not come from the teacher");
  add_command(sub, [a] { return run_init(*a); });
}

}  // namespace zebra::cli
