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
static void tml_depthwise_general(const tml_conv_params *p, const int8_t *input,
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

/* The outputs [first, last) along one axis whose 3 taps all lie inside the input. */
static void tml_interior(int32_t out_size, int32_t stride, int32_t pad, int32_t in_size,
                         int32_t range[2])
{
    const int32_t first = (pad + stride - 1) / stride;
    int32_t last = in_size - 3 + pad >= 0 ? (in_size - 3 + pad) / stride + 1 : 0;
    last = last < out_size ? last : out_size;
    range[0] = first < last ? first : last;
    range[1] = last;
}

/* One row of interior outputs of one channel: nine taps with the weights in registers and
 * the input offset folded into the bias (c.bias = bias + input_offset x sum of the weights). */
static void tml_depthwise_3x3_row(const tml_outputs *o, const int8_t *in, int32_t row,
                                  int32_t in_c, int32_t step, int32_t count, const int32_t w[9],
                                  tml_channel c, int8_t *out, int32_t out_step)
{
    const int8_t *r0 = in, *r1 = in + row, *r2 = in + 2 * row;
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4];
    const int32_t w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
    const int32_t two = 2 * in_c;
    const int32_t offset = o->output_offset, low = o->act_min, high = o->act_max;
    int32_t n;
    for (n = 0; n < count; ++n) {
        int32_t acc = c.bias + r0[0] * w0 + r0[in_c] * w1 + r0[two] * w2;
        acc += r1[0] * w3 + r1[in_c] * w4 + r1[two] * w5;
        acc += r2[0] * w6 + r2[in_c] * w7 + r2[two] * w8;
        *out = (int8_t)tml_clamp(tml_requantize_small(acc, c) + offset, low, high);
        out += out_step;
        r0 += step;
        r1 += step;
        r2 += step;
    }
}

/* 3x3, depth multiplier 1, no dilation (`fast`): channel by channel, so that the channel's
 * weights and requantization constants stay in registers; the borders take the valid taps. */
static void tml_depthwise_3x3(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const tml_outputs o = tml_outputs_of(p);
    const int32_t in_c = p->in_c, out_c = p->out_c, out_w = p->out_w;
    const int32_t row = p->in_w * in_c, step = p->stride_w * in_c;
    int32_t ys[2], xs[2], w[9];
    int32_t channel, out_y, out_x, k;
    tml_interior(p->out_h, p->stride_h, p->pad_h, p->in_h, ys);
    tml_interior(out_w, p->stride_w, p->pad_w, p->in_w, xs);
    for (channel = 0; channel < out_c; ++channel) {
        const tml_channel c = tml_channel_of(&o, channel);
        tml_channel folded = c;
        int32_t sum = 0;
        for (k = 0; k < 9; ++k) {
            w[k] = p->filter[k * out_c + channel];
            sum += w[k];
        }
        folded.bias += p->input_offset * sum;
        for (out_y = 0; out_y < p->out_h; ++out_y) {
            int8_t *out = output + out_y * out_w * out_c + channel;
            out_x = 0;
            if (out_y >= ys[0] && out_y < ys[1]) {
                const int32_t y = out_y * p->stride_h - p->pad_h;
                const int32_t x = xs[0] * p->stride_w - p->pad_w;
                for (; out_x < xs[0]; ++out_x) {
                    const int32_t acc = tml_depthwise_at(p, input, out_y, out_x, channel, channel);
                    out[out_x * out_c] = tml_output_small(&o, acc + c.bias, c);
                }
                if (xs[1] > xs[0]) {
                    tml_depthwise_3x3_row(&o, input + (y * p->in_w + x) * in_c + channel, row,
                                          in_c, step, xs[1] - xs[0], w, folded,
                                          out + xs[0] * out_c, out_c);
                    out_x = xs[1];
                }
            }
            for (; out_x < out_w; ++out_x) {
                const int32_t acc = tml_depthwise_at(p, input, out_y, out_x, channel, channel);
                out[out_x * out_c] = tml_output_small(&o, acc + c.bias, c);
            }
        }
    }
}

void tml_depthwise_conv2d(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    if (p->fast && p->filter_h == 3 && p->filter_w == 3 && p->dilation_h == 1 &&
        p->dilation_w == 1 && p->depth_multiplier == 1) {
        tml_depthwise_3x3(p, input, output);
    } else {
        tml_depthwise_general(p, input, output);
    }
}
