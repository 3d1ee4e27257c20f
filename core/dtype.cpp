#include "core/dtype.h"

#include <cmath>

#include "core/error.h"

namespace zebra {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
    case DType::F64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
    case DType::F64: return "f64";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  if (n == "f32" || n == "float32" || n == "F32") return DType::F32;
  if (n == "bf16" || n == "bfloat16" || n == "BF16") return DType::BF16;
  if (n == "f16" || n == "float16" || n == "F16") return DType::F16;
  if (n == "i32" || n == "int32" || n == "I32") return DType::I32;
  if (n == "i64" || n == "int64" || n == "I64") return DType::I64;
  if (n == "u8" || n == "uint8" || n == "U8") return DType::U8;
  if (n == "f64" || n == "float64" || n == "F64") return DType::F64;
  fail("unknown dtype '", n, "'");
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do { man <<= 1; ++e; } while (!(man & 0x400));
      u = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | man << 13;
  } else {
    u = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  uint32_t au = u & 0x7fffffffu;
  if (au > 0x7f800000u) return sign | 0x7e00;  // NaN
  if (au >= 0x477ff000u) return sign | 0x7c00;  // rounds to inf
  if (au < 0x38800000u) {  // subnormal or zero in f16
    float af;
    std::memcpy(&af, &au, 4);
    // 2^-24 is the f16 subnormal step; nearbyint rounds half to even.
    return sign | uint16_t(std::nearbyint(af * 16777216.0f));
  }
  uint32_t r = au + 0xfffu + ((au >> 13) & 1u);  // round mantissa to 10 bits, ties to even
  return sign | uint16_t(((r >> 13) - ((127 - 15) << 10)) & 0x7fff);
}

namespace {
// f64 -> f32 rounding to odd (truncate, then set the last bit if anything was lost). Narrowing
// that result to bf16/f16 with nearest-even then equals one correct rounding of the f64 value;
// a plain float(v) can land exactly on a half-type tie and round the wrong way.
float f64_to_f32_odd(double v) {
  float f = float(v);
  if (!std::isfinite(f) || double(f) == v) return f;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (u & 1u) return f;
  return std::nextafter(f, v > double(f) ? INFINITY : -INFINITY);
}

// Float to integer casts are undefined outside the target's range: truncate toward zero as C
// does, saturate at the ends, and send NaN to 0 (PyTorch leaves these unspecified).
double to_int_range(double v, double lo, double hi) {
  if (v != v) return 0.0;
  v = std::trunc(v);
  return v < lo ? lo : (v > hi ? hi : v);
}

template <class T>
double load(const void* p, int64_t i) { return double(static_cast<const T*>(p)[i]); }
double load_any(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return load<float>(p, i);
    case DType::F64: return load<double>(p, i);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::I32: return load<int32_t>(p, i);
    case DType::I64: return double(static_cast<const int64_t*>(p)[i]);
    case DType::U8: return load<uint8_t>(p, i);
  }
  return 0;
}
void store_any(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::F32: static_cast<float*>(p)[i] = float(v); break;
    case DType::F64: static_cast<double*>(p)[i] = v; break;
    case DType::BF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(f64_to_f32_odd(v)); break;
    case DType::F16: static_cast<uint16_t*>(p)[i] = f32_to_f16(f64_to_f32_odd(v)); break;
    case DType::I32: static_cast<int32_t*>(p)[i] = int32_t(to_int_range(v, -2147483648.0, 2147483647.0)); break;
    case DType::I64: static_cast<int64_t*>(p)[i] = int64_t(to_int_range(v, -9223372036854775808.0, 9223372036854774784.0)); break;
    case DType::U8: static_cast<uint8_t*>(p)[i] = uint8_t(to_int_range(v, 0.0, 255.0)); break;
  }
}
}  // namespace

void convert_elements(const void* src, DType st, void* dst, DType dt, int64_t n) {
  if (n <= 0) return;  // empty std::vectors hand in null pointers, which memcpy must not see
  if (st == dt) {
    std::memcpy(dst, src, size_t(n) * dtype_size(st));
    return;
  }
  // Hot paths: the half types to and from f32 (checkpoint loading, GPU staging).
  if (st == DType::BF16 && dt == DType::F32) {
    auto s = static_cast<const uint16_t*>(src);
    auto d = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
    return;
  }
  if (st == DType::F32 && dt == DType::BF16) {
    auto s = static_cast<const float*>(src);
    auto d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
    return;
  }
  if (st == DType::I64 && dt == DType::I32) {  // exact, no trip through double
    auto s = static_cast<const int64_t*>(src);
    auto d = static_cast<int32_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = int32_t(s[i]);
    return;
  }
  if (st == DType::I32 && dt == DType::I64) {
    auto s = static_cast<const int32_t*>(src);
    auto d = static_cast<int64_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
    return;
  }
  for (int64_t i = 0; i < n; ++i) store_any(dst, dt, i, load_any(src, st, i));
}

}  // namespace zebra
