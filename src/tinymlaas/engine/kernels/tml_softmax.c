/* TinyMLaaS C engine: int8 softmax with TFLite-Micro's reference fixed-point arithmetic
 * (gemmlowp: exp on negative values, 12-bit accumulation, Newton-Raphson reciprocal). */
#include "tml_kernels.h"

static int32_t tml_sm_high_mul(int32_t a, int32_t b)
{
    int64_t product;
    int64_t nudge;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    product = (int64_t)a * (int64_t)b;
    nudge = product >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((product + nudge) / ((int64_t)1 << 31));
}

static int32_t tml_sm_divide_by_pot(int32_t value, int32_t exponent)
{
    const int32_t mask = (int32_t)((((uint32_t)1) << exponent) - 1u);
    const int32_t remainder = value & mask;
    const int32_t threshold = (mask >> 1) + (value < 0 ? 1 : 0);
    return (value >> exponent) + (remainder > threshold ? 1 : 0);
}

/* Saturating multiply by 2^exponent (exponent > 0) or rounding divide (exponent < 0). */
static int32_t tml_sm_multiply_by_pot(int32_t value, int32_t exponent)
{
    int32_t threshold;
    if (exponent <= 0) {
        return tml_sm_divide_by_pot(value, -exponent);
    }
    threshold = (int32_t)((((uint32_t)1) << (31 - exponent)) - 1u);
    if (value > threshold) {
        return INT32_MAX;
    }
    if (value < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)value << exponent);
}

/* exp(a) for a in [-1/4, 0), a and result with 0 integer bits. */
static int32_t tml_sm_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;      /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28);               /* a + 1/8 */
    const int32_t x2 = tml_sm_high_mul(x, x);
    const int32_t x3 = tml_sm_high_mul(x2, x);
    const int32_t x4 = tml_sm_high_mul(x2, x2);
    const int32_t x4_over_4 = tml_sm_multiply_by_pot(x4, -2);
    const int32_t poly = tml_sm_multiply_by_pot(
        tml_sm_high_mul(x4_over_4 + x3, one_third) + x2, -1);
    return constant_term + tml_sm_high_mul(constant_term, x + poly);
}

/* exp(a) for a <= 0 with 5 integer bits; the result has 0 integer bits. */
static int32_t tml_sm_exp_negative(int32_t a)
{
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                           39332535,   720401,     242};
    const int32_t fractional_bits = 26;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_quarter = (a & mask) - one_quarter;
    int32_t result = tml_sm_exp_quarter(tml_sm_multiply_by_pot(a_mod_quarter_minus_quarter, 5));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    int32_t exponent;
    for (exponent = -2; exponent <= 4; ++exponent) {
        if (remainder & (1 << (fractional_bits + exponent))) {
            result = tml_sm_high_mul(result, multipliers[exponent + 2]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), 0 integer bits in and out. */
static int32_t tml_sm_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + (int64_t)INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    int32_t x = constant_48_over_17 + tml_sm_high_mul(half_denominator, constant_neg_32_over_17);
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = tml_sm_high_mul(half_denominator, x);
        const int32_t one_minus = (1 << 29) - half_denominator_times_x;
        x = x + tml_sm_multiply_by_pot(tml_sm_high_mul(x, one_minus), 2);
    }
    return tml_sm_multiply_by_pot(x, 1);
}

static int32_t tml_sm_count_leading_zeros(uint32_t value)
{
    int32_t count = 0;
    if (value == 0) {
        return 32;
    }
    while ((value & 0x80000000u) == 0) {
        value <<= 1;
        ++count;
    }
    return count;
}

void tml_softmax(const tml_softmax_params *p, const int8_t *input, int8_t *output)
{
    int32_t row, c;
    for (row = 0; row < p->outer; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        int32_t headroom, bits_over_unit, shifted_scale;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t rescaled = tml_sm_high_mul(
                    (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                sum_of_exps += tml_sm_multiply_by_pot(tml_sm_exp_negative(rescaled), -12);
            }
        }
        headroom = tml_sm_count_leading_zeros((uint32_t)sum_of_exps);
        bits_over_unit = 12 - headroom;
        shifted_scale = tml_sm_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum_of_exps << headroom) - ((uint32_t)1 << 31)));
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t rescaled = tml_sm_high_mul(
                    (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                const int32_t exp_in_0 = tml_sm_exp_negative(rescaled);
                int32_t value = tml_sm_divide_by_pot(tml_sm_high_mul(shifted_scale, exp_in_0),
                                                     bits_over_unit + 31 - 8);
                value -= 128;
                out[c] = (int8_t)(value > 127 ? 127 : (value < -128 ? -128 : value));
            } else {
                out[c] = -128;
            }
        }
    }
}
