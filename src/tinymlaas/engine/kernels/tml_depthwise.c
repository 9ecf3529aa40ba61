/* TinyMLaaS C engine: DEPTHWISE_CONV_2D, byte-identical with TFLite-Micro's reference kernel. */
#include "tml_requantize.h"

/* The valid taps [first, last) of an output row or column along one axis. */
static void tml_axis_taps(int32_t origin, int32_t filter, int32_t dilation, int32_t size,
                          int32_t taps[2])
{
    int32_t f;
    taps[0] = filter;
    taps[1] = 0;
    for (f = 0; f < filter; ++f) {
        const int32_t at = origin + dilation * f;
        if (at >= 0 && at < size) {
            taps[0] = taps[0] < f ? taps[0] : f;
            taps[1] = f + 1;
        }
    }
}

/* The accumulator of output channel `channel` at one position, over the valid taps only. */
static int32_t tml_depthwise_at(const tml_conv_params *p, const int8_t *input, int32_t out_y,
                                int32_t out_x, int32_t in_channel, int32_t channel)
{
    const int32_t origin_y = out_y * p->stride_h - p->pad_h;
    const int32_t origin_x = out_x * p->stride_w - p->pad_w;
    int32_t rows[2], columns[2], fy, fx;
    int32_t acc = 0;
    tml_axis_taps(origin_y, p->filter_h, p->dilation_h, p->in_h, rows);
    tml_axis_taps(origin_x, p->filter_w, p->dilation_w, p->in_w, columns);
    for (fy = rows[0]; fy < rows[1]; ++fy) {
        const int32_t y = origin_y + p->dilation_h * fy;
        for (fx = columns[0]; fx < columns[1]; ++fx) {
            const int32_t x = origin_x + p->dilation_w * fx;
            const int32_t value = input[(y * p->in_w + x) * p->in_c + in_channel];
            acc += (value + p->input_offset) *
                   (int32_t)p->filter[(fy * p->filter_w + fx) * p->out_c + channel];
        }
    }
    return acc;
}

/* Any filter, stride, dilation, padding and depth multiplier. */
static TML_NOINLINE void tml_depthwise_general(const tml_conv_params *p, const int8_t *input,
                                  int8_t *output)
{
    const tml_outputs o = tml_outputs_of(p);
    int32_t out_y, out_x, in_channel, m;
    for (out_y = 0; out_y < p->out_h; ++out_y) {
        for (out_x = 0; out_x < p->out_w; ++out_x) {
            int8_t *out = output + (out_y * p->out_w + out_x) * p->out_c;
            int32_t channel = 0;
            for (in_channel = 0; in_channel < p->in_c; ++in_channel) {
                for (m = 0; m < p->depth_multiplier; ++m, ++channel) {
                    const int32_t acc =
                        tml_depthwise_at(p, input, out_y, out_x, in_channel, channel);
                    out[channel] = tml_output(&o, acc, channel);
                }
            }
        }
    }
}

/* The outputs [first, last) along one axis whose taps all lie inside the input. */
static void tml_interior_of(int32_t out_size, int32_t stride, int32_t pad, int32_t in_size,
                            int32_t filter, int32_t dilation, int32_t range[2])
{
    const int32_t span = (filter - 1) * dilation + 1;
    const int32_t first = (pad + stride - 1) / stride;
    int32_t last = in_size - span + pad >= 0 ? (in_size - span + pad) / stride + 1 : 0;
    last = last < out_size ? last : out_size;
    range[0] = first < last ? first : last;
    range[1] = last;
}

/* The most taps of a depthwise filter the position-by-position kernel takes (3x3). */
#define TML_DW_TAPS 9

/* The output's range and the input rows one output row reads. */
typedef struct {
    const int8_t *rows[3];
    int32_t in_c, step, count, out_step;
} tml_dw_row;

/* `count` outputs of one channel along an output row whose three columns of taps are all
 * inside the input: nine taps with the weights in registers (zero for rows outside the input,
 * whose pointers then repeat a valid row) and the input offset folded into the bias. */
static TML_NOINLINE void tml_depthwise_3x3_row(const tml_dw_row *r, int32_t column,
                                               const int32_t w[9], tml_channel c, int8_t *out)
{
    const int8_t *r0 = r->rows[0] + column, *r1 = r->rows[1] + column;
    const int8_t *r2 = r->rows[2] + column;
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4];
    const int32_t w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
    const int32_t in_c = r->in_c, two = 2 * r->in_c, step = r->step, out_step = r->out_step;
    int8_t *const end = out + r->count * out_step;
    if (step == in_c) {
        /* Stride 1: two outputs per pass, the middle two input columns read once for both. */
        int8_t *const pairs = out + (r->count & ~1) * out_step;
        for (; out != pairs; out += 2 * out_step, r0 += two, r1 += two, r2 += two) {
            const int32_t a1 = r0[in_c], a2 = r0[two], b1 = r1[in_c], b2 = r1[two];
            const int32_t c1 = r2[in_c], c2 = r2[two];
            int32_t acc = c.bias + r0[0] * w0 + a1 * w1 + a2 * w2 + r1[0] * w3 + b1 * w4;
            int32_t next = c.bias + a1 * w0 + a2 * w1 + r0[two + in_c] * w2 + b1 * w3;
            acc += b2 * w5 + r2[0] * w6 + c1 * w7 + c2 * w8;
            next += b2 * w4 + r1[two + in_c] * w5 + c1 * w6 + c2 * w7 + r2[two + in_c] * w8;
            out[0] = tml_output_small(acc, c);
            out[out_step] = tml_output_small(next, c);
        }
    }
    for (; out != end; out += out_step, r0 += step, r1 += step, r2 += step) {
        int32_t acc = c.bias + r0[0] * w0 + r0[in_c] * w1 + r0[two] * w2;
        acc += r1[0] * w3 + r1[in_c] * w4 + r1[two] * w5;
        acc += r2[0] * w6 + r2[in_c] * w7 + r2[two] * w8;
        *out = tml_output_small(acc, c);
    }
}

/* One output at a left or right edge: the valid columns of the valid rows (w has zeros in the
 * others), input offset added to each input. */
static TML_NOINLINE int8_t tml_depthwise_3x3_edge(const tml_conv_params *p, const tml_dw_row *r,
                                     int32_t out_x, const int32_t w[9], tml_channel c)
{
    const int32_t origin = out_x * p->stride_w - p->pad_w;
    int32_t fy, fx, acc = c.bias;
    for (fx = 0; fx < 3; ++fx) {
        const int32_t x = origin + fx;
        if (x >= 0 && x < p->in_w) {
            for (fy = 0; fy < 3; ++fy) {
                acc += (r->rows[fy][x * r->in_c] + p->input_offset) * w[fy * 3 + fx];
            }
        }
    }
    return tml_output_small(acc, c);
}

/* 3x3, no dilation (`fast`), one input channel per output channel: channel by channel, so
 * that the channel's weights and requantization constants stay in registers; top and bottom
 * rows zero the weights of the rows outside the input, left and right edges take their valid
 * taps. Tap k of output channel c is filter[k * tap_step + c * channel_step] and its input
 * channel c * input_step: a depthwise conv (out_c, 1, 1) or a conv on one channel (1, 9, 0). */
void tml_channelwise_3x3(const tml_conv_params *p, const int8_t *input, int8_t *output,
                         int32_t tap_step, int32_t channel_step, int32_t input_step)
{
    const tml_outputs o = tml_outputs_of(p);
    const int32_t in_c = p->in_c, out_w = p->out_w;
    int32_t xs[2], w[9];
    int32_t channel, out_y, out_x, k;
    tml_dw_row r;
    tml_interior_of(out_w, p->stride_w, p->pad_w, p->in_w, 3, 1, xs);
    r.in_c = in_c;
    r.step = p->stride_w * in_c;
    r.count = xs[1] - xs[0];
    r.out_step = p->out_c;
    for (channel = 0; channel < p->out_c; ++channel) {
        const tml_channel c = tml_channel_of(&o, channel);
        const int8_t *weights = p->filter + channel * channel_step;
        for (out_y = 0; out_y < p->out_h; ++out_y) {
            const int32_t origin = out_y * p->stride_h - p->pad_h;
            const int32_t first = origin < 0 ? -origin : 0;
            int8_t *out = output + out_y * out_w * p->out_c + channel;
            tml_channel folded = c;
            int32_t sum = 0;
            for (k = 0; k < 3; ++k) {
                const int inside = origin + k >= 0 && origin + k < p->in_h;
                r.rows[k] = input + ((inside ? origin + k : origin + first) * p->in_w) * in_c +
                            channel * input_step;
                w[3 * k] = inside ? weights[3 * k * tap_step] : 0;
                w[3 * k + 1] = inside ? weights[(3 * k + 1) * tap_step] : 0;
                w[3 * k + 2] = inside ? weights[(3 * k + 2) * tap_step] : 0;
                sum += w[3 * k] + w[3 * k + 1] + w[3 * k + 2];
            }
            folded.bias += p->input_offset * sum;
            for (out_x = 0; out_x < xs[0]; ++out_x) {
                out[out_x * p->out_c] = tml_depthwise_3x3_edge(p, &r, out_x, w, c);
            }
            if (r.count > 0) {
                tml_depthwise_3x3_row(&r, (xs[0] * p->stride_w - p->pad_w) * in_c, w, folded,
                                      out + xs[0] * p->out_c);
            }
            for (out_x = xs[1]; out_x < out_w; ++out_x) {
                out[out_x * p->out_c] = tml_depthwise_3x3_edge(p, &r, out_x, w, c);
            }
        }
    }
}

/* The input and filter offsets of the valid taps of one output position, side by side
 * (taps[2k], taps[2k + 1]: one LDRD); their count. */
static int32_t tml_depthwise_taps(const tml_conv_params *p, int32_t out_y, int32_t out_x,
                                  int32_t taps[2 * TML_DW_TAPS])
{
    const int32_t origin_y = out_y * p->stride_h - p->pad_h;
    const int32_t origin_x = out_x * p->stride_w - p->pad_w;
    int32_t rows[2], columns[2], fy, fx, n = 0;
    tml_axis_taps(origin_y, p->filter_h, p->dilation_h, p->in_h, rows);
    tml_axis_taps(origin_x, p->filter_w, p->dilation_w, p->in_w, columns);
    for (fy = rows[0]; fy < rows[1]; ++fy) {
        for (fx = columns[0]; fx < columns[1]; ++fx, ++n) {
            taps[2 * n] = ((origin_y + p->dilation_h * fy) * p->in_w + origin_x +
                           p->dilation_w * fx) * p->in_c;
            taps[2 * n + 1] = (fy * p->filter_w + fx) * p->out_c;
        }
    }
    return n;
}

/* Every channel of one output position over its `n` valid taps. With the DSP extension four
 * channels at a time: one word of input and one of weights per tap, sign-extended in pairs
 * (channels 0, 2 and 1, 3), input offset added to both halves, and one 16x16 multiply-
 * accumulate per channel (SMLABB / SMLATT). */
static TML_NOINLINE void tml_depthwise_point(const tml_conv_params *p, const int8_t *input,
                                             const int32_t *taps, int32_t n, int8_t *out)
{
    const int8_t *filter = p->filter;
    const int32_t *bias = p->bias, *multiplier = p->multiplier, *shift = p->shift;
    const int32_t channels = p->out_c, input_offset = p->input_offset;
    const int32_t output_offset = p->output_offset;
    int32_t channel = 0, t;
#if TML_DSP
    const int32_t offsets = (int32_t)(((uint32_t)input_offset & 0xffffu) * 0x00010001u);
    for (; channel + 4 <= channels; channel += 4) {
        const int8_t *in = input + channel, *f = filter + channel;
        const int32_t *tap = taps, *const end = taps + 2 * n;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        tml_channel c;
        for (; tap != end; tap += 2) {
            const int32_t x = tml_load4(in + tap[0]);
            const int32_t w = tml_load4(f + tap[1]);
            const int32_t xe = __sadd16(__sxtb16(x), offsets);
            const int32_t xo = __sadd16(tml_sxtb16_odd(x), offsets);
            const int32_t we = __sxtb16(w), wo = tml_sxtb16_odd(w);
            a0 = __smlabb(xe, we, a0);
            a2 = __smlatt(xe, we, a2);
            a1 = __smlabb(xo, wo, a1);
            a3 = __smlatt(xo, wo, a3);
        }
        c = tml_channel_at(bias, multiplier, shift, output_offset, channel);
        a0 = tml_output_small(a0 + c.bias, c);
        c = tml_channel_at(bias, multiplier, shift, output_offset, channel + 1);
        a1 = tml_output_small(a1 + c.bias, c);
        c = tml_channel_at(bias, multiplier, shift, output_offset, channel + 2);
        a2 = tml_output_small(a2 + c.bias, c);
        c = tml_channel_at(bias, multiplier, shift, output_offset, channel + 3);
        a3 = tml_output_small(a3 + c.bias, c);
        out[channel] = (int8_t)a0;
        out[channel + 1] = (int8_t)a1;
        out[channel + 2] = (int8_t)a2;
        out[channel + 3] = (int8_t)a3;
    }
#endif
    for (; channel < channels; ++channel) {
        const tml_channel c = tml_channel_at(bias, multiplier, shift, output_offset, channel);
        int32_t acc = c.bias;
        for (t = 0; t < n; ++t) {
            acc += ((int32_t)input[taps[2 * t] + channel] + input_offset) *
                   (int32_t)filter[taps[2 * t + 1] + channel];
        }
        out[channel] = tml_output_small(acc, c);
    }
}

/* Depth multiplier 1, at most 3x3 taps (`fast`): position by position, the valid taps found
 * once and shared by every channel; inside the input every position has the same taps
 * relative to its corner. */
static TML_NOINLINE void tml_depthwise_by_position(const tml_conv_params *p, const int8_t *input,
                                      int8_t *output)
{
    int32_t inner_taps[2 * TML_DW_TAPS], taps[2 * TML_DW_TAPS], ys[2], xs[2];
    int32_t out_y, out_x, inner;
    tml_interior_of(p->out_h, p->stride_h, p->pad_h, p->in_h, p->filter_h, p->dilation_h, ys);
    tml_interior_of(p->out_w, p->stride_w, p->pad_w, p->in_w, p->filter_w, p->dilation_w, xs);
    inner = ys[1] > ys[0] && xs[1] > xs[0]
                ? tml_depthwise_taps(p, ys[0], xs[0], inner_taps)
                : 0;
    for (out_y = 0; out_y < p->out_h; ++out_y) {
        const int32_t origin_y = out_y * p->stride_h - p->pad_h;
        for (out_x = 0; out_x < p->out_w; ++out_x) {
            int8_t *out = output + (out_y * p->out_w + out_x) * p->out_c;
            if (out_y >= ys[0] && out_y < ys[1] && out_x >= xs[0] && out_x < xs[1]) {
                const int32_t origin_x = out_x * p->stride_w - p->pad_w;
                const int32_t corner = (origin_y * p->in_w + origin_x) * p->in_c;
                const int32_t first = ((ys[0] * p->stride_h - p->pad_h) * p->in_w +
                                       xs[0] * p->stride_w - p->pad_w) * p->in_c;
                tml_depthwise_point(p, input + (corner - first), inner_taps, inner, out);
            } else {
                const int32_t n = tml_depthwise_taps(p, out_y, out_x, taps);
                tml_depthwise_point(p, input, taps, n, out);
            }
        }
    }
}

/* Fewer channels than this: channel by channel (weights in registers), else position by
 * position (taps shared by the channels); measured on MobileNet v1's layers. */
#define TML_DW_BY_POSITION_CHANNELS 64

void tml_depthwise_conv2d(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const int fast = p->fast && p->depth_multiplier == 1;
    if (p->packed_filter != 0) {
        tml_depthwise_packed(p, input, output);
    } else if (fast && p->filter_h == 3 && p->filter_w == 3 && p->dilation_h == 1 &&
        p->dilation_w == 1 && p->out_c < TML_DW_BY_POSITION_CHANNELS) {
        tml_channelwise_3x3(p, input, output, p->out_c, 1, 1);
    } else if (fast && p->filter_h * p->filter_w <= TML_DW_TAPS) {
        tml_depthwise_by_position(p, input, output);
    } else {
        tml_depthwise_general(p, input, output);
        return;
    }
    tml_clamp_activations(p, output);
}
