// Element types and the bf16/f16 <-> f32 conversions shared by every CPU kernel.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace zebra {

enum class DType : uint8_t { F32, BF16, F16, I32, I64, U8, F64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "bf16", ...
DType dtype_from_name(const std::string& name);  // throws Error on unknown names
inline bool is_floating(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16 || t == DType::F64; }

struct bf16 { uint16_t bits; };
struct f16 { uint16_t bits; };

inline float bf16_to_f32(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even, NaN kept quiet (as PyTorch does).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even, overflow to inf

// Converts n elements between any two dtypes (integers go through double).
void convert_elements(const void* src, DType src_t, void* dst, DType dst_t, int64_t n);

}  // namespace zebra
