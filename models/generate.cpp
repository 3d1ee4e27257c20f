#include "models/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/node.h"

namespace zebra {

void validate(const SamplingOptions& o) {
  ZCHECK(o.temperature >= 0 && std::isfinite(o.temperature), "sampling: temperature must be >= 0, got ", o.temperature);
  ZCHECK(o.top_k >= 0, "sampling: top_k must be >= 0, got ", o.top_k);
  ZCHECK(o.top_p > 0 && o.top_p <= 1, "sampling: top_p must be in (0, 1], got ", o.top_p);
}

int64_t sample_token(const float* logits, int64_t V, const SamplingOptions& o, Rng& rng) {
  ZCHECK(V > 0, "sampling: empty logits row");
  if (o.temperature == 0.0) return int64_t(std::max_element(logits, logits + V) - logits);
  // Candidates sorted by logit, descending (stable: ties keep the lower id first).
  std::vector<int64_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  int64_t keep = o.top_k > 0 ? std::min(o.top_k, V) : V;
  auto by_logit = [&](int64_t a, int64_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(), by_logit);
  idx.resize(size_t(keep));
  std::vector<double> p(idx.size());
  double mx = double(logits[idx[0]]) / o.temperature, total = 0;
  for (size_t i = 0; i < idx.size(); ++i) total += p[i] = std::exp(double(logits[idx[i]]) / o.temperature - mx);
  for (double& x : p) x /= total;
  if (o.top_p < 1.0) {
    // Keep the smallest prefix whose mass reaches top_p (at least one token), as HF's TopPLogitsWarper.
    double cum = 0;
    size_t n = 0;
    while (n < p.size() && cum < o.top_p) cum += p[n++];
    p.resize(std::max<size_t>(n, 1));
    double s = std::accumulate(p.begin(), p.end(), 0.0);
    for (double& x : p) x /= s;
  }
  double u = double(rng.next_uniform()), acc = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    acc += p[i];
    if (u < acc) return idx[i];
  }
  return idx[p.size() - 1];
}

std::vector<int64_t> generate_with(const std::function<Tensor(const Tensor&)>& step, int64_t V,
                                   const std::vector<int64_t>& prompt, const GenerateOptions& opt,
                                   const std::function<bool(int64_t)>& on_token) {
  validate(opt.sampling);
  ZCHECK(!prompt.empty(), "generate: the prompt is empty");
  ZCHECK(opt.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0");
  for (int64_t id : prompt) ZCHECK(id >= 0 && id < V, "generate: prompt id ", id, " is outside the vocabulary of ", V);
  NoGrad ng;
  Rng rng(opt.sampling.seed);
  std::vector<int64_t> out;
  Tensor ids = Tensor::from_vector(prompt, {1, int64_t(prompt.size())});
  for (int64_t i = 0; i < opt.max_new_tokens; ++i) {
    Tensor logits = step(ids).contiguous();  // [1, T, V]
    const float* last = logits.data<float>() + (logits.size(1) - 1) * V;
    int64_t next = sample_token(last, V, opt.sampling, rng);
    out.push_back(next);
    bool go_on = on_token ? on_token(next) : true;
    if (!go_on || std::find(opt.eos_ids.begin(), opt.eos_ids.end(), next) != opt.eos_ids.end()) break;
    ids = Tensor::from_vector(std::vector<int64_t>{next}, {1, 1});
  }
  return out;
}

std::vector<int64_t> generate(LlamaModel& model, const std::vector<int64_t>& prompt, const GenerateOptions& opt,
                              const std::function<bool(int64_t)>& on_token) {
  KVCache cache = model.make_cache(1, int64_t(prompt.size()) + std::max<int64_t>(opt.max_new_tokens, 1));
  return generate_with([&](const Tensor& ids) { return model.forward(ids, &cache); }, model.config().vocab_size,
                       prompt, opt, on_token);
}

}  // namespace zebra
