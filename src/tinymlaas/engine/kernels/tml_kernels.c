/* TinyMLaaS C engine: int8 kernels. Integer arithmetic mirrors TFLite-Micro's reference
 * kernels (same requantization, same rounding), so outputs are byte-identical. The
 * convolutions are in tml_conv.c and tml_depthwise.c, the requantization in tml_requantize.h. */
#include "tml_requantize.h"

int32_t tml_requantize(int32_t value, int32_t multiplier, int32_t shift)
{
    return tml_requantize_inline(value, multiplier, shift);
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

void tml_lookup(const int8_t *table, const int8_t *input, int8_t *output, int32_t size)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = table[input[i] + 128];
    }
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
