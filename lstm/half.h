// lstm/half.h: 16-bit floating-point storage formats for checkpoints (lstm/checkpoint_file.h).
// IEEE 754 binary16 ("F16": 1 sign, 5 exponent, 10 mantissa bits; largest finite 65504) and
// bfloat16 ("BF16": float32's upper 16 bits: 8 exponent, 7 mantissa bits). Narrowing rounds
// to nearest, ties to even, as the hardware conversions do; widening is exact. Scalar and
// portable: checkpoints are converted once per save or load, never in a hot loop.
//
// Example:
//   std::uint16_t h = float_to_f16(0.1f);   // 0x2E66
//   float back = f16_to_float(h);            // 0.0999755859375f
#pragma once

#include <bit>
#include <cstdint>

namespace melodl::lstm {

// binary16 -> float32, exact (subnormals, infinities and NaN included).
inline float f16_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));  // inf, NaN
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return std::bit_cast<float>(sign);  // +-0
  // Subnormal: mant x 2^-24, normalised into float32.
  std::uint32_t e = 113;  // exponent field of 2^-14
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return std::bit_cast<float>(sign | (e << 23) | ((mant & 0x3FFu) << 13));
}

// float32 -> binary16, round to nearest even; beyond 65504 (after rounding) gives +-inf,
// NaN stays NaN (quiet), values below 2^-24 / 2 become +-0.
inline std::uint16_t float_to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u);   // NaN
  if (abs >= 0x47800000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // >= 65536: inf
  const std::int32_t exp = static_cast<std::int32_t>(abs >> 23) - 127;
  if (exp >= -14) {  // normal binary16 (rounding may carry into the exponent, or to inf)
    const std::uint32_t mant = abs & 0x7FFFFFu;
    std::uint32_t h = (static_cast<std::uint32_t>(exp + 15) << 10) | (mant >> 13);
    const std::uint32_t rest = mant & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) != 0)) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  if (exp < -25) return sign;  // below half the smallest subnormal
  // Subnormal: the 24-bit significand shifted right so its unit is 2^-24.
  const std::uint32_t sig = (abs & 0x7FFFFFu) | 0x800000u;
  const int shift = -exp - 1;  // 14..24
  std::uint32_t h = sig >> shift;
  const std::uint32_t rest = sig & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u) != 0)) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

// bfloat16 -> float32, exact.
inline float bf16_to_float(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

// float32 -> bfloat16, round to nearest even; NaN stays NaN (quiet); overflow gives +-inf.
inline std::uint16_t float_to_bf16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  const std::uint32_t rounded = x + 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

}  // namespace melodl::lstm
