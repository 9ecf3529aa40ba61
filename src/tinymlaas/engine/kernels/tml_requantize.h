/* TinyMLaaS C engine: the requantization the kernels share (private to the kernel sources).
 *
 * tml_requantize_inline is TFLite's MultiplyByQuantizedMultiplier written out. The fast form
 * tml_requantize_small gives the same integers with fewer instructions when the generator has
 * proved (`fast` in the parameters) that |acc + bias| < 2^30 and every shift is a right shift:
 *   SaturatingRoundingDoublingHighMul(x, M) = (x*M + 2^30) >> 31 = (2x*M + 2^31) >> 32, and
 *   RoundingDivideByPOT(v, r) = (v + 2^(r-1) - (v < 0)) >> r  for r >= 1,
 * where v < 0 can be read off x (M > 0; when x < 0 and v = 0 both sides give 0). On cores with
 * the DSP extension the two additions and the multiply are one SMMLAR. The output offset rides
 * in the rounding term as offset x 2^r (exact: a multiple of 2^r passes through the shift; no
 * overflow, the generator also checked r <= 22). */
#ifndef TML_REQUANTIZE_H
#define TML_REQUANTIZE_H

#include "tml_kernels.h"

/* Building with -DTML_PORTABLE takes the portable C on any core (same bytes, to compare). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(TML_PORTABLE)
#define TML_DSP 1
#include <arm_acle.h>
#include <string.h>
#else
#define TML_DSP 0
#endif

/* Hot loops kept out of their callers, so that they get the registers to themselves. */
#if defined(__GNUC__)
#define TML_NOINLINE __attribute__((noinline))
#else
#define TML_NOINLINE
#endif

static inline int32_t tml_clamp(int32_t value, int32_t low, int32_t high)
{
    return value < low ? low : (value > high ? high : value);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31, truncated, where the
 * nudge is 2^30 for a positive product and 1 - 2^30 otherwise. For a negative product the
 * truncating division equals (product + 1 - 2^30 + 2^31 - 1) >> 31, so both cases are
 * (product + 2^30) >> 31: one multiply, one add, one shift. */
static inline int32_t tml_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp's RoundingDivideByPOT: ties away from zero. */
static inline int32_t tml_divide_by_pot(int32_t value, int32_t exponent)
{
    const int32_t mask = (int32_t)((((uint32_t)1) << exponent) - 1u);
    const int32_t remainder = value & mask;
    const int32_t threshold = (mask >> 1) + (value < 0 ? 1 : 0);
    return (value >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tml_requantize_inline(int32_t value, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)value << left);
    return tml_divide_by_pot(tml_doubling_high_mul(shifted, multiplier), right);
}

/* One output channel's constants in the form the fast requantization uses. */
typedef struct {
    int32_t bias, multiplier, right, round;
} tml_channel;

/* The fast form, output offset included: |value| < 2^30, 1 <= right <= 22,
 * round = 2^(right - 1) + output_offset x 2^right. */
static inline int32_t tml_requantize_small(int32_t value, tml_channel channel)
{
    const int32_t addend = channel.round + (value >> 31);
#if TML_DSP && defined(__GNUC__)
    int32_t high;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(high) : "r"(value * 2), "r"(channel.multiplier),
            "r"(addend));
    return high >> channel.right;
#else
    const int32_t high = (int32_t)(((int64_t)value * channel.multiplier + (1 << 30)) >> 31);
    return (high + addend) >> channel.right;
#endif
}

/* The requantization of a convolution's outputs, copied out of the parameters once per call:
 * every int8 store may alias the parameters, so fields read in a loop are re-read. */
typedef struct {
    const int32_t *bias, *multiplier, *shift;
    int32_t output_offset, act_min, act_max, fast;
} tml_outputs;

static inline tml_outputs tml_outputs_of(const tml_conv_params *p)
{
    tml_outputs o;
    o.bias = p->bias;
    o.multiplier = p->multiplier;
    o.shift = p->shift;
    o.output_offset = p->output_offset;
    o.act_min = p->act_min;
    o.act_max = p->act_max;
    o.fast = p->fast;
    return o;
}

/* round = 2^(right - 1) + output_offset x 2^right = (2 x output_offset + 1) x 2^(right - 1). */
static inline tml_channel tml_channel_at(const int32_t *bias, const int32_t *multiplier,
                                         const int32_t *shift, int32_t output_offset,
                                         int32_t channel)
{
    tml_channel c;
    c.bias = bias != 0 ? bias[channel] : 0;
    c.multiplier = multiplier[channel];
    c.right = -shift[channel];
    c.round = (int32_t)((uint32_t)(2 * output_offset + 1) << (c.right - 1));
    return c;
}

static inline tml_channel tml_channel_of(const tml_outputs *o, int32_t channel)
{
    return tml_channel_at(o->bias, o->multiplier, o->shift, o->output_offset, channel);
}

/* A requantized value (output offset included) saturated to int8: one SSAT with the DSP
 * extension. The fast paths narrow to the activation range afterwards, in one pass over the
 * output and only when it is narrower than int8 (tml_clamp_activations): clamping after
 * saturating gives the same bytes, and every ReLU6 layer's range is the whole int8 one. */
static inline int8_t tml_int8(int32_t value)
{
#if TML_DSP
    return (int8_t)__ssat(value, 8);
#else
    return (int8_t)tml_clamp(value, -128, 127);
#endif
}

/* An accumulator (bias included) to the int8 output, fast form. */
static inline int8_t tml_output_small(int32_t acc, tml_channel channel)
{
    return tml_int8(tml_requantize_small(acc, channel));
}

/* An accumulator (without bias) to the int8 output, the generic way. */
static inline int8_t tml_output(const tml_outputs *o, int32_t acc, int32_t channel)
{
    if (o->bias != 0) {
        acc += o->bias[channel];
    }
    acc = tml_requantize_inline(acc, o->multiplier[channel], o->shift[channel]) + o->output_offset;
    return (int8_t)tml_clamp(acc, o->act_min, o->act_max);
}

#if TML_DSP
static inline int32_t tml_load4(const int8_t *bytes)
{
    int32_t word;
    memcpy(&word, bytes, sizeof word);
    return word;
}

/* The odd bytes (1, 3) of a word as an int16 pair: SXTB16 with its ROR #8 operand (one
 * instruction; not every arm_acle.h has __ror, and compilers do not fuse the two). */
static inline int32_t tml_sxtb16_odd(int32_t word)
{
#if defined(__GNUC__)
    int32_t pair;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(pair) : "r"(word));
    return pair;
#else
    return __sxtb16((int32_t)(((uint32_t)word >> 8) | ((uint32_t)word << 24)));
#endif
}
#endif

/* The fast paths' outputs narrowed to the activation range, if narrower than int8. */
void tml_clamp_activations(const tml_conv_params *p, int8_t *output);

/* 3x3 convolutions with one input channel per output channel (tml_depthwise.c). */
void tml_channelwise_3x3(const tml_conv_params *p, const int8_t *input, int8_t *output,
                         int32_t tap_step, int32_t channel_step, int32_t input_step);

/* 3x3 depthwise convolutions on the generator's packed filter (tml_depthwise_packed.c). */
void tml_depthwise_packed(const tml_conv_params *p, const int8_t *input, int8_t *output);

#endif /* TML_REQUANTIZE_H */
