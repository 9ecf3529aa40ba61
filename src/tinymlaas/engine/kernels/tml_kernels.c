/* TinyMLaaS C engine: int8 kernels. Integer arithmetic mirrors TFLite-Micro's reference kernels
 * (same requantization, same rounding), so outputs are byte-identical. */
#include "tml_kernels.h"

/* On cores with the DSP extension (Cortex-M4, M7, M33, M55...) the inner products use the
 * ACLE SIMD intrinsics: two int8 pairs sign-extended to int16 (SXTB16), the input offset added
 * to both halves (SADD16) and two multiply-accumulates in one instruction (SMLAD). The sums
 * are the same integers as the portable loops', so the outputs are the same bytes. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TML_DSP 1
#include <arm_acle.h>
#include <string.h>
#else
#define TML_DSP 0
#endif

static int32_t tml_clamp(int32_t value, int32_t low, int32_t high)
{
    return value < low ? low : (value > high ? high : value);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31, truncated, where the
 * nudge is 2^30 for a positive product and 1 - 2^30 otherwise. For a negative product the
 * truncating division equals (product + 1 - 2^30 + 2^31 - 1) >> 31, so both cases are
 * (product + 2^30) >> 31: one multiply, one add, one shift. */
static int32_t tml_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp's RoundingDivideByPOT: ties away from zero. */
static int32_t tml_divide_by_pot(int32_t value, int32_t exponent)
{
    const int32_t mask = (int32_t)((((uint32_t)1) << exponent) - 1u);
    const int32_t remainder = value & mask;
    const int32_t threshold = (mask >> 1) + (value < 0 ? 1 : 0);
    return (value >> exponent) + (remainder > threshold ? 1 : 0);
}

static int32_t tml_requantize_inline(int32_t value, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)value << left);
    return tml_divide_by_pot(tml_doubling_high_mul(shifted, multiplier), right);
}

int32_t tml_requantize(int32_t value, int32_t multiplier, int32_t shift)
{
    return tml_requantize_inline(value, multiplier, shift);
}

/* The inner loop of conv: sum of (input + offset) * filter. */
static int32_t tml_dot_offset(const int8_t *input, const int8_t *filter, int32_t count,
                              int32_t input_offset)
{
    int32_t acc = 0;
    int32_t i;
    for (i = 0; i < count; ++i) {
        acc += ((int32_t)input[i] + input_offset) * (int32_t)filter[i];
    }
    return acc;
}

#if TML_DSP
static int32_t tml_load4(const int8_t *bytes)
{
    int32_t word;
    memcpy(&word, bytes, sizeof word);
    return word;
}

/* The odd bytes of a word moved to the even places (ROR #8; not every arm_acle.h has __ror). */
static int32_t tml_odd(int32_t word)
{
    return (int32_t)(((uint32_t)word >> 8) | ((uint32_t)word << 24));
}
#endif

/* Two positions (in0, in1) times two filter rows (f0, f1) of `depth` values:
 * acc = {in0.f0, in1.f0, in0.f1, in1.f1}, inputs shifted by the input offset. */
static void tml_dot_2x2(const int8_t *in0, const int8_t *in1, const int8_t *f0,
                        const int8_t *f1, int32_t depth, int32_t input_offset, int32_t acc[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int32_t i = 0;
#if TML_DSP
    const int32_t offsets = (int32_t)(((uint32_t)input_offset & 0xffffu) * 0x00010001u);
    for (; i + 4 <= depth; i += 4) {
        const int32_t x0 = tml_load4(in0 + i);
        const int32_t x1 = tml_load4(in1 + i);
        const int32_t w0 = tml_load4(f0 + i);
        const int32_t w1 = tml_load4(f1 + i);
        /* Even bytes (0, 2) and odd bytes (1, 3) as int16 pairs. */
        const int32_t x0e = __sadd16(__sxtb16(x0), offsets);
        const int32_t x0o = __sadd16(__sxtb16(tml_odd(x0)), offsets);
        const int32_t x1e = __sadd16(__sxtb16(x1), offsets);
        const int32_t x1o = __sadd16(__sxtb16(tml_odd(x1)), offsets);
        const int32_t w0e = __sxtb16(w0);
        const int32_t w0o = __sxtb16(tml_odd(w0));
        const int32_t w1e = __sxtb16(w1);
        const int32_t w1o = __sxtb16(tml_odd(w1));
        a0 = __smlad(x0e, w0e, __smlad(x0o, w0o, a0));
        a1 = __smlad(x1e, w0e, __smlad(x1o, w0o, a1));
        a2 = __smlad(x0e, w1e, __smlad(x0o, w1o, a2));
        a3 = __smlad(x1e, w1e, __smlad(x1o, w1o, a3));
    }
#endif
    for (; i < depth; ++i) {
        const int32_t x0 = (int32_t)in0[i] + input_offset;
        const int32_t x1 = (int32_t)in1[i] + input_offset;
        a0 += x0 * (int32_t)f0[i];
        a1 += x1 * (int32_t)f0[i];
        a2 += x0 * (int32_t)f1[i];
        a3 += x1 * (int32_t)f1[i];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The requantization of a convolution's outputs, copied out of the parameters once per call:
 * every int8 store may alias the parameters, so fields read in a loop are re-read. */
typedef struct {
    const int32_t *bias, *multiplier, *shift;
    int32_t output_offset, act_min, act_max;
} tml_outputs;

static tml_outputs tml_outputs_of(const tml_conv_params *p)
{
    tml_outputs o;
    o.bias = p->bias;
    o.multiplier = p->multiplier;
    o.shift = p->shift;
    o.output_offset = p->output_offset;
    o.act_min = p->act_min;
    o.act_max = p->act_max;
    return o;
}

static int8_t tml_output(const tml_outputs o, int32_t acc, int32_t channel)
{
    if (o.bias != 0) {
        acc += o.bias[channel];
    }
    acc = tml_requantize_inline(acc, o.multiplier[channel], o.shift[channel]) + o.output_offset;
    return (int8_t)tml_clamp(acc, o.act_min, o.act_max);
}

/* The valid filter taps of one output position: [first, last) rows and columns of the
 * filter whose input lies inside the image. */
static void tml_taps(const tml_conv_params *p, int32_t out_y, int32_t out_x, int32_t taps[4])
{
    const int32_t origin_y = out_y * p->stride_h - p->pad_h;
    const int32_t origin_x = out_x * p->stride_w - p->pad_w;
    int32_t f;
    taps[0] = p->filter_h;
    taps[1] = 0;
    taps[2] = p->filter_w;
    taps[3] = 0;
    for (f = 0; f < p->filter_h; ++f) {
        const int32_t in_y = origin_y + p->dilation_h * f;
        if (in_y >= 0 && in_y < p->in_h) {
            taps[0] = taps[0] < f ? taps[0] : f;
            taps[1] = f + 1;
        }
    }
    for (f = 0; f < p->filter_w; ++f) {
        const int32_t in_x = origin_x + p->dilation_w * f;
        if (in_x >= 0 && in_x < p->in_w) {
            taps[2] = taps[2] < f ? taps[2] : f;
            taps[3] = f + 1;
        }
    }
}

/* Accumulators of a convolution's output channels [channel, channel + 4) at one position,
 * over the valid taps; `at` is the input at tap (0, 0), possibly outside the image. */
static void tml_conv_taps(const tml_conv_params *p, const int8_t *input, int32_t at,
                          const int32_t taps[4], int32_t channel, int32_t count, int32_t acc[4])
{
    const int32_t tap_size = p->filter_h * p->filter_w * p->in_c;
    int32_t fy, fx, k;
    for (k = 0; k < count; ++k) {
        acc[k] = 0;
    }
    for (fy = taps[0]; fy < taps[1]; ++fy) {
        for (fx = taps[2]; fx < taps[3]; ++fx) {
            const int8_t *in =
                input + at + (p->dilation_h * fy * p->in_w + p->dilation_w * fx) * p->in_c;
            const int8_t *filter = p->filter + channel * tap_size + (fy * p->filter_w + fx) * p->in_c;
            for (k = 0; k < count; ++k) {
                acc[k] += tml_dot_offset(in, filter + k * tap_size, p->in_c, p->input_offset);
            }
        }
    }
}

static void tml_conv_general(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    int32_t out_y, out_x, channel, k;
    const tml_outputs o = tml_outputs_of(p);
    int32_t taps[4], acc[4];
    for (out_y = 0; out_y < p->out_h; ++out_y) {
        for (out_x = 0; out_x < p->out_w; ++out_x) {
            const int32_t at = ((out_y * p->stride_h - p->pad_h) * p->in_w +
                                (out_x * p->stride_w - p->pad_w)) * p->in_c;
            int8_t *out = output + (out_y * p->out_w + out_x) * p->out_c;
            tml_taps(p, out_y, out_x, taps);
            for (channel = 0; channel < p->out_c; channel += 4) {
                const int32_t count = p->out_c - channel < 4 ? p->out_c - channel : 4;
                tml_conv_taps(p, input, at, taps, channel, count, acc);
                for (k = 0; k < count; ++k) {
                    out[channel + k] = tml_output(o, acc[k], channel + k);
                }
            }
        }
    }
}

/* A 1x1 convolution with stride 1 and no padding is a matrix product: every position's
 * input vector times every output channel's filter row. Two positions at a time. */
static void tml_pointwise(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const int32_t positions = p->out_h * p->out_w;
    const int32_t depth = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t input_offset = p->input_offset;
    const int8_t *filters = p->filter;
    const tml_outputs o = tml_outputs_of(p);
    int32_t position, channel;
    int32_t acc[4];
    for (position = 0; position + 1 < positions; position += 2) {
        const int8_t *in = input + position * depth;
        int8_t *out = output + position * out_c;
        for (channel = 0; channel < out_c; channel += 2) {
            const int32_t pair = out_c - channel > 1;
            const int8_t *filter = filters + channel * depth;
            tml_dot_2x2(in, in + depth, filter, pair ? filter + depth : filter, depth,
                        input_offset, acc);
            out[channel] = tml_output(o, acc[0], channel);
            out[out_c + channel] = tml_output(o, acc[1], channel);
            if (pair) {
                out[channel + 1] = tml_output(o, acc[2], channel + 1);
                out[out_c + channel + 1] = tml_output(o, acc[3], channel + 1);
            }
        }
    }
    if (position < positions) {
        const int8_t *in = input + position * depth;
        int8_t *out = output + position * out_c;
        for (channel = 0; channel < out_c; ++channel) {
            out[channel] = tml_output(
                o, tml_dot_offset(in, filters + channel * depth, depth, input_offset),
                channel);
        }
    }
}

void tml_conv2d(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    if (p->filter_h == 1 && p->filter_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
        p->pad_h == 0 && p->pad_w == 0 && p->in_h == p->out_h && p->in_w == p->out_w) {
        tml_pointwise(p, input, output);
    } else {
        tml_conv_general(p, input, output);
    }
}

/* Depthwise: for each output position, the valid taps once, then every channel. */
void tml_depthwise_conv2d(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in_c, out_c = p->out_c, multiplier = p->depth_multiplier;
    const int32_t step_y = p->dilation_h * p->in_w * in_c, step_x = p->dilation_w * in_c;
    const int32_t filter_row = p->filter_w * out_c, input_offset = p->input_offset;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    const int8_t *filters = p->filter;
    const tml_outputs o = tml_outputs_of(p);
    int32_t out_y, out_x, in_channel, m, fy, fx;
    int32_t taps[4];
    for (out_y = 0; out_y < out_h; ++out_y) {
        for (out_x = 0; out_x < out_w; ++out_x) {
            const int32_t at = ((out_y * p->stride_h - p->pad_h) * p->in_w +
                                (out_x * p->stride_w - p->pad_w)) * in_c;
            int8_t *out = output + (out_y * out_w + out_x) * out_c;
            int32_t channel = 0;
            tml_taps(p, out_y, out_x, taps);
            for (in_channel = 0; in_channel < in_c; ++in_channel) {
                for (m = 0; m < multiplier; ++m, ++channel) {
                    int32_t acc = 0;
                    for (fy = taps[0]; fy < taps[1]; ++fy) {
                        const int8_t *in = input + at + fy * step_y + in_channel;
                        const int8_t *filter = filters + fy * filter_row + channel;
                        for (fx = taps[2]; fx < taps[3]; ++fx) {
                            acc += ((int32_t)in[fx * step_x] + input_offset) *
                                   (int32_t)filter[fx * out_c];
                        }
                    }
                    out[channel] = tml_output(o, acc, channel);
                }
            }
        }
    }
}

void tml_fully_connected(const tml_fc_params *p, const int8_t *input, int8_t *output)
{
    int32_t batch, unit, i;
    for (batch = 0; batch < p->batches; ++batch) {
        const int8_t *in = input + batch * p->in_depth;
        for (unit = 0; unit < p->out_depth; ++unit) {
            const int8_t *filter = p->filter + unit * p->in_depth;
            int32_t acc = 0;
            for (i = 0; i < p->in_depth; ++i) {
                acc += ((int32_t)in[i] + p->input_offset) *
                       ((int32_t)filter[i] + p->filter_offset);
            }
            if (p->bias != 0) {
                acc += p->bias[unit];
            }
            acc = tml_requantize(acc, p->multiplier[unit], p->shift[unit]) + p->output_offset;
            output[batch * p->out_depth + unit] = (int8_t)tml_clamp(acc, p->act_min, p->act_max);
        }
    }
}

static void tml_pool_window(const tml_pool_params *p, int32_t out_y, int32_t out_x,
                            int32_t window[4])
{
    const int32_t origin_y = out_y * p->stride_h - p->pad_h;
    const int32_t origin_x = out_x * p->stride_w - p->pad_w;
    const int32_t end_y = p->in_h - origin_y;
    const int32_t end_x = p->in_w - origin_x;
    window[0] = origin_y + (origin_y < 0 ? -origin_y : 0);
    window[1] = origin_y + (p->filter_h < end_y ? p->filter_h : end_y);
    window[2] = origin_x + (origin_x < 0 ? -origin_x : 0);
    window[3] = origin_x + (p->filter_w < end_x ? p->filter_w : end_x);
}

void tml_max_pool2d(const tml_pool_params *p, const int8_t *input, int8_t *output)
{
    int32_t out_y, out_x, channel, y, x;
    int32_t window[4];
    for (out_y = 0; out_y < p->out_h; ++out_y) {
        for (out_x = 0; out_x < p->out_w; ++out_x) {
            tml_pool_window(p, out_y, out_x, window);
            for (channel = 0; channel < p->channels; ++channel) {
                int32_t best = -128;
                for (y = window[0]; y < window[1]; ++y) {
                    for (x = window[2]; x < window[3]; ++x) {
                        const int32_t value = input[(y * p->in_w + x) * p->channels + channel];
                        best = value > best ? value : best;
                    }
                }
                output[(out_y * p->out_w + out_x) * p->channels + channel] =
                    (int8_t)tml_clamp(best, p->act_min, p->act_max);
            }
        }
    }
}

void tml_average_pool2d(const tml_pool_params *p, const int8_t *input, int8_t *output)
{
    int32_t out_y, out_x, channel, y, x;
    int32_t window[4];
    for (out_y = 0; out_y < p->out_h; ++out_y) {
        for (out_x = 0; out_x < p->out_w; ++out_x) {
            tml_pool_window(p, out_y, out_x, window);
            for (channel = 0; channel < p->channels; ++channel) {
                int32_t acc = 0;
                int32_t count = (window[1] - window[0]) * (window[3] - window[2]);
                for (y = window[0]; y < window[1]; ++y) {
                    for (x = window[2]; x < window[3]; ++x) {
                        acc += input[(y * p->in_w + x) * p->channels + channel];
                    }
                }
                if (count <= 0) {
                    count = 1;
                }
                acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                output[(out_y * p->out_w + out_x) * p->channels + channel] =
                    (int8_t)tml_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}

void tml_mean(const tml_mean_params *p, const int8_t *input, int8_t *output)
{
    int32_t outer, inner, r;
    for (outer = 0; outer < p->outer; ++outer) {
        for (inner = 0; inner < p->inner; ++inner) {
            const int8_t *in = input + outer * p->reduced * p->inner + inner;
            int32_t acc = 0;
            for (r = 0; r < p->reduced; ++r) {
                acc += (int32_t)in[r * p->inner] - p->input_zero_point;
            }
            acc = tml_requantize(acc, p->multiplier, p->shift) + p->output_zero_point;
            output[outer * p->inner + inner] = (int8_t)tml_clamp(acc, -128, 127);
        }
    }
}

static int32_t tml_add_one(const tml_binary_params *p, int32_t a, int32_t b)
{
    const int32_t shifted1 = (a + p->input1_offset) * (1 << p->left_shift);
    const int32_t shifted2 = (b + p->input2_offset) * (1 << p->left_shift);
    const int32_t scaled1 = tml_requantize(shifted1, p->input1_multiplier, p->input1_shift);
    const int32_t scaled2 = tml_requantize(shifted2, p->input2_multiplier, p->input2_shift);
    const int32_t sum = scaled1 + scaled2;
    return tml_requantize(sum, p->output_multiplier, p->output_shift) + p->output_offset;
}

static int32_t tml_mul_one(const tml_binary_params *p, int32_t a, int32_t b)
{
    const int32_t product = (a + p->input1_offset) * (b + p->input2_offset);
    return tml_requantize(product, p->output_multiplier, p->output_shift) + p->output_offset;
}

static void tml_binary(const tml_binary_params *p, const int8_t *input1, const int8_t *input2,
                       int8_t *output, int32_t (*one)(const tml_binary_params *, int32_t, int32_t))
{
    int32_t i0, i1, i2, i3;
    int32_t position = 0;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t a = input1[i0 * p->stride1[0] + i1 * p->stride1[1] +
                                             i2 * p->stride1[2] + i3 * p->stride1[3]];
                    const int32_t b = input2[i0 * p->stride2[0] + i1 * p->stride2[1] +
                                             i2 * p->stride2[2] + i3 * p->stride2[3]];
                    output[position++] = (int8_t)tml_clamp(one(p, a, b), p->act_min, p->act_max);
                }
            }
        }
    }
}

void tml_add(const tml_binary_params *p, const int8_t *input1, const int8_t *input2,
             int8_t *output)
{
    tml_binary(p, input1, input2, output, tml_add_one);
}

void tml_mul(const tml_binary_params *p, const int8_t *input1, const int8_t *input2,
             int8_t *output)
{
    tml_binary(p, input1, input2, output, tml_mul_one);
}

void tml_pad(const tml_pad_params *p, const int8_t *input, int8_t *output)
{
    int32_t o0, o1, o2, o3;
    int32_t position = 0;
    for (o0 = 0; o0 < p->out_dims[0]; ++o0) {
        const int32_t i0 = o0 - p->before[0];
        for (o1 = 0; o1 < p->out_dims[1]; ++o1) {
            const int32_t i1 = o1 - p->before[1];
            for (o2 = 0; o2 < p->out_dims[2]; ++o2) {
                const int32_t i2 = o2 - p->before[2];
                for (o3 = 0; o3 < p->out_dims[3]; ++o3) {
                    const int32_t i3 = o3 - p->before[3];
                    const int inside = i0 >= 0 && i0 < p->in_dims[0] && i1 >= 0 &&
                                       i1 < p->in_dims[1] && i2 >= 0 && i2 < p->in_dims[2] &&
                                       i3 >= 0 && i3 < p->in_dims[3];
                    output[position++] =
                        inside ? input[((i0 * p->in_dims[1] + i1) * p->in_dims[2] + i2) *
                                           p->in_dims[3] + i3]
                               : p->pad_value;
                }
            }
        }
    }
}

void tml_requantize_tensor(const tml_requantize_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t value = tml_requantize((int32_t)input[i] - p->input_zero_point,
                                             p->multiplier, p->shift) + p->output_zero_point;
        output[i] = (int8_t)tml_clamp(value, -128, 127);
    }
}

void tml_copy(const int8_t *input, int8_t *output, int32_t size)
{
    int32_t i;
    if (input == output) {
        return;
    }
    for (i = 0; i < size; ++i) {
        output[i] = input[i];
    }
}
