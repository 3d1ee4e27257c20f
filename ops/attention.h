// Causal scaled-dot-product attention with GQA, in a blocked memory-efficient form (online
// softmax; backward recomputes scores block by block from the saved logsumexp), so T x T is never
// held. Forward + backward.
#pragma once
#include "core/tensor.h"

namespace zebra {

// q: [B, T, H, Dk], k: [B, S, G, Dk], v: [B, S, G, Dv], H % G == 0 (query head h reads kv head
// h / (H/G)), S >= T. Query t sits at position S - T + t and sees keys 0..S-T+t (a decode step with
// a cache of S - T tokens is the same call). scale 0 means 1/sqrt(Dk). Returns [B, T, H, Dv].
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale = 0.0);

// The plain composition (scores, mask, softmax, weighted sum) that holds [B, H, T, S]: for tests.
Tensor causal_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, double scale = 0.0);

}  // namespace zebra
