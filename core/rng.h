// Counter-based Philox4x32-10 (Salmon et al., SC'11): value i of stream (seed, offset) is a pure
// function of (seed, offset, i), so CPU threads and GPU kernels produce the same numbers in any order.
#pragma once
#include <array>
#include <cstdint>

namespace zebra {

struct Philox {
  // One 10-round block: 4 x 32 random bits for counter (ctr) under key.
  static std::array<uint32_t, 4> block(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key);

  // The i-th uniform 32-bit word of stream (seed, offset).
  static uint32_t bits(uint64_t seed, uint64_t offset, uint64_t i);
  // Uniform in [0, 1) with 24 bits, i.e. exactly representable in f32.
  static float uniform(uint64_t seed, uint64_t offset, uint64_t i);
  // Standard normal by Box-Muller over the word pair (2i, 2i+1).
  static float normal(uint64_t seed, uint64_t offset, uint64_t i);
};

// A stateful generator for code that draws in sequence (data shuffling, init): it remembers the
// offset, so saving (seed, offset) in a checkpoint is enough to resume the stream.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}
  uint32_t next_u32() { return Philox::bits(seed_, 0, offset_++); }
  uint64_t next_u64() {
    uint64_t hi = next_u32();  // sequenced: the high word is always drawn first
    return hi << 32 | next_u32();
  }
  float next_uniform() { return float(next_u32() >> 8) * (1.0f / 16777216.0f); }
  // Uniform integer in [0, n) without modulo bias.
  uint64_t next_below(uint64_t n);
  // Reserves n draws and returns their starting offset (for filling a tensor in parallel).
  uint64_t reserve(uint64_t n) { uint64_t o = offset_; offset_ += n; return o; }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }

 private:
  uint64_t seed_, offset_;
};

}  // namespace zebra
