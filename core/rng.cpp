#include "core/rng.h"

#include <cmath>

namespace zebra {

std::array<uint32_t, 4> Philox::block(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(M0) * c[0];
    uint64_t p1 = uint64_t(M1) * c[2];
    c = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1], uint32_t(p0)};
    k[0] += W0;
    k[1] += W1;
  }
  return c;
}

uint32_t Philox::bits(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t blk = i >> 2;
  auto r = block({uint32_t(blk), uint32_t(blk >> 32), uint32_t(offset), uint32_t(offset >> 32)},
                 {uint32_t(seed), uint32_t(seed >> 32)});
  return r[i & 3];
}

float Philox::uniform(uint64_t seed, uint64_t offset, uint64_t i) {
  return float(bits(seed, offset, i) >> 8) * (1.0f / 16777216.0f);
}

float Philox::normal(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t blk = i >> 1;  // one block gives two normals: words (0,1) and (2,3)
  auto r = block({uint32_t(blk), uint32_t(blk >> 32), uint32_t(offset), uint32_t(offset >> 32)},
                 {uint32_t(seed), uint32_t(seed >> 32)});
  uint32_t a = r[(i & 1) * 2], b = r[(i & 1) * 2 + 1];
  double u1 = (double(a >> 8) + 1.0) * (1.0 / 16777216.0);  // (0, 1]: log is finite
  double u2 = double(b >> 8) * (1.0 / 16777216.0);
  return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

uint64_t Rng::next_below(uint64_t n) {
  if (n <= 1) return 0;
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do { x = next_u64(); } while (x >= limit);
  return x % n;
}

}  // namespace zebra
