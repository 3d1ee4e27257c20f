// CPU kernels behind ops/attention.cpp: flash-style causal attention with GQA. The forward keeps a
// running max / sum / accumulator per query row (online softmax) over key blocks; the backward
// recomputes the probabilities block by block from the saved logsumexp. Nothing of size T x S is
// ever allocated: scratch is a few blocks per thread.
#pragma once
#include "core/tensor.h"

namespace zebra::cpu {

// Query rows / keys per block. Tests shrink them to cross many block edges on small inputs; not
// meant to be changed while a kernel runs.
struct AttentionBlocks {
  int64_t q = 64;
  int64_t kv = 64;
};
AttentionBlocks& attention_blocks();

// q: [B, T, H, Dk], k: [B, S, G, Dk], v: [B, S, G, Dv], f32 with unit stride on the last axis (other
// strides free, e.g. slices of a fused projection); shapes checked by the caller.
// out: [B, T, H, Dv] contiguous; lse: [B, H, T] contiguous, the logsumexp of each row's scaled scores.
struct AttentionForward {
  Tensor out;
  Tensor lse;
};
AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, float scale);

// dout: [B, T, H, Dv] with unit last stride; out and lse as the forward returned them. Gradients not
// asked for stay undefined. dk / dv are summed over the H / G query heads sharing each kv head
// inside one task per (batch, kv head, key block), so the result does not depend on thread count.
struct AttentionGrads {
  Tensor dq, dk, dv;
};
AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, const Tensor& dout, float scale, bool need_dq, bool need_dkv);

}  // namespace zebra::cpu
