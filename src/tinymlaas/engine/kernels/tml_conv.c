/* TinyMLaaS C engine: CONV_2D. Integer arithmetic mirrors TFLite-Micro's reference kernel
 * (same sums, same requantization), so outputs are byte-identical; the fast paths only order
 * the work differently.
 *
 * On cores with the DSP extension (Cortex-M4, M7, M33, M55...) the pointwise inner products
 * use the ACLE SIMD intrinsics: two int8 pairs sign-extended to int16 (SXTB16) and two
 * multiply-accumulates in one instruction (SMLAD). The sums are the same integers as the
 * portable loops', so the outputs are the same bytes. */
#include "tml_requantize.h"

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

/* The generic convolution: any filter, stride, dilation and padding. */
static TML_NOINLINE void tml_conv_general(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const tml_outputs o = tml_outputs_of(p);
    const int32_t tap_size = p->filter_h * p->filter_w * p->in_c;
    int32_t out_y, out_x, channel, fy, fx, i;
    int32_t taps[4];
    for (out_y = 0; out_y < p->out_h; ++out_y) {
        for (out_x = 0; out_x < p->out_w; ++out_x) {
            const int32_t at = ((out_y * p->stride_h - p->pad_h) * p->in_w +
                                (out_x * p->stride_w - p->pad_w)) * p->in_c;
            int8_t *out = output + (out_y * p->out_w + out_x) * p->out_c;
            tml_taps(p, out_y, out_x, taps);
            for (channel = 0; channel < p->out_c; ++channel) {
                int32_t acc = 0;
                for (fy = taps[0]; fy < taps[1]; ++fy) {
                    for (fx = taps[2]; fx < taps[3]; ++fx) {
                        const int8_t *in = input + at +
                                           (p->dilation_h * fy * p->in_w + p->dilation_w * fx) *
                                               p->in_c;
                        const int8_t *filter =
                            p->filter + channel * tap_size + (fy * p->filter_w + fx) * p->in_c;
                        for (i = 0; i < p->in_c; ++i) {
                            acc += ((int32_t)in[i] + p->input_offset) * (int32_t)filter[i];
                        }
                    }
                }
                out[channel] = tml_output(&o, acc, channel);
            }
        }
    }
}

/* Convolutions with a small patch (the first layer: 3x3 on 1 or 3 channels): each position's
 * patch is gathered once, offset added and zeros where the padding is, then reused by every
 * output channel. */
#define TML_PATCH_MAX 27

static TML_NOINLINE void tml_conv_patch(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const tml_outputs o = tml_outputs_of(p);
    const int32_t in_c = p->in_c, filter_w = p->filter_w, out_c = p->out_c;
    const int32_t size = p->filter_h * filter_w * in_c;
    const int32_t offset = p->input_offset;
    int16_t patch[TML_PATCH_MAX]; /* input + offset: |value| <= 255 */
    int32_t out_y, out_x, fy, fx, i, channel;
    for (out_y = 0; out_y < p->out_h; ++out_y) {
        const int32_t origin_y = out_y * p->stride_h - p->pad_h;
        for (out_x = 0; out_x < p->out_w; ++out_x) {
            const int32_t origin_x = out_x * p->stride_w - p->pad_w;
            int8_t *out = output + (out_y * p->out_w + out_x) * out_c;
            int16_t *next = patch;
            const int8_t *filter = p->filter;
            for (fy = 0; fy < p->filter_h; ++fy) {
                const int32_t y = origin_y + fy * p->dilation_h;
                for (fx = 0; fx < filter_w; ++fx) {
                    const int32_t x = origin_x + fx * p->dilation_w;
                    const int inside = y >= 0 && y < p->in_h && x >= 0 && x < p->in_w;
                    const int8_t *in = input + (y * p->in_w + x) * in_c;
                    for (i = 0; i < in_c; ++i) {
                        *next++ = (int16_t)(inside ? (int32_t)in[i] + offset : 0);
                    }
                }
            }
            for (channel = 0; channel < out_c; ++channel, filter += size) {
                int32_t acc = 0;
                for (i = 0; i < size; ++i) {
                    acc += (int32_t)patch[i] * (int32_t)filter[i];
                }
                if (o.fast) {
                    const tml_channel c = tml_channel_of(&o, channel);
                    out[channel] = tml_output_small(acc + c.bias, c);
                } else {
                    out[channel] = tml_output(&o, acc, channel);
                }
            }
        }
    }
}

/* One pair of output channels of a pointwise conv over every position, two positions at a
 * time (an odd last one is paired with the one before, computed twice): the filter rows
 * (filter, filter + depth) times the inputs (in, in + depth), raw products (the input offset
 * is in the bias). One stride for both pairs keeps the loop within the registers; the output
 * stage runs after it, when the registers are free again. */
#if TML_DSP
/* The pointwise inner loop on cores with the DSP extension, four depths per step: *x and
 * *x + depth are the two positions, *f and *f + depth the two filter rows, advanced up to
 * filter_end. Both int8 quads are sign-extended to int16 pairs (SXTB16: bytes 0, 2; with
 * ROR #8: bytes 1, 3) and multiplied-accumulated in pairs (SMLAD). Written in assembly with
 * GCC-compatible compilers because they spill it otherwise (20 instructions per 16
 * multiply-accumulates and a 3-instruction loop test per four steps, instead of 24-28 per
 * step); it needs 13 registers, so it builds with a frame pointer and at -O0 too. The C loop
 * is the same arithmetic. */
#define TML_DOT_2X2_STEP \
            "ldr %[x1], [%[x], %[depth]]\n\t" \
            "ldr %[x0], [%[x]], #4\n\t" \
            "ldr %[w], [%[f], %[depth]]\n\t" \
            "sxtb16 %[x0e], %[x0]\n\t" \
            "sxtb16 %[x0], %[x0], ror #8\n\t" \
            "sxtb16 %[x1e], %[x1]\n\t" \
            "sxtb16 %[x1], %[x1], ror #8\n\t" \
            "sxtb16 %[we], %[w]\n\t" \
            "sxtb16 %[w], %[w], ror #8\n\t" \
            "smlad %[a2], %[x0e], %[we], %[a2]\n\t" \
            "smlad %[a2], %[x0], %[w], %[a2]\n\t" \
            "smlad %[a3], %[x1e], %[we], %[a3]\n\t" \
            "smlad %[a3], %[x1], %[w], %[a3]\n\t" \
            "ldr %[w], [%[f]], #4\n\t" \
            "sxtb16 %[we], %[w]\n\t" \
            "sxtb16 %[w], %[w], ror #8\n\t" \
            "smlad %[a0], %[x0e], %[we], %[a0]\n\t" \
            "smlad %[a0], %[x0], %[w], %[a0]\n\t" \
            "smlad %[a1], %[x1e], %[we], %[a1]\n\t" \
            "smlad %[a1], %[x1], %[w], %[a1]\n\t"

static inline void tml_dot_2x2_dsp(const int8_t **x_at, const int8_t **f_at, int32_t depth,
                                   const int8_t *filter_end, int32_t whole, int32_t *s0,
                                   int32_t *s1, int32_t *s2, int32_t *s3)
{
    const int8_t *x = *x_at, *f = *f_at;
    int32_t a0 = *s0, a1 = *s1, a2 = *s2, a3 = *s3;
#if defined(__GNUC__)
    int32_t x0, x1, x0e, x1e, w, we;
    if (whole == 2) {
        /* Depth 8: two steps, nothing to test. */
        __asm__(TML_DOT_2X2_STEP TML_DOT_2X2_STEP
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
                  [f] "+r"(f), [x0] "=&r"(x0), [x1] "=&r"(x1), [x0e] "=&r"(x0e),
                  [x1e] "=&r"(x1e), [w] "=&r"(w), [we] "=&r"(we)
                : [depth] "r"(depth)
                : "memory");
    } else if ((whole & 3) == 0) {
        /* A multiple of 16: four steps per pass only. */
        __asm__("3:\n\t"
                TML_DOT_2X2_STEP
                TML_DOT_2X2_STEP
                TML_DOT_2X2_STEP
                TML_DOT_2X2_STEP
                "ldr %[we], %[end]\n\t"
                "cmp %[f], %[we]\n\t"
                "bne 3b\n\t"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
                  [f] "+r"(f), [x0] "=&r"(x0), [x1] "=&r"(x1), [x0e] "=&r"(x0e),
                  [x1e] "=&r"(x1e), [w] "=&r"(w), [we] "=&r"(we)
                : [depth] "r"(depth), [end] "m"(filter_end)
                : "cc", "memory");
    } else {
    /* One step first if their number is odd, then two if it is not a multiple of four,
     * then four per pass (one loop test per 64 multiply-accumulates). */
    __asm__("ldr %[we], %[end]\n\t"
            "sub %[we], %[we], %[f]\n\t"
            "tst %[we], #4\n\t"
            "beq 1f\n\t"
            TML_DOT_2X2_STEP
            "1:\n\t"
            "ldr %[we], %[end]\n\t"
            "sub %[we], %[we], %[f]\n\t"
            "tst %[we], #8\n\t"
            "beq 2f\n\t"
            TML_DOT_2X2_STEP
            TML_DOT_2X2_STEP
            "2:\n\t"
            "ldr %[we], %[end]\n\t"
            "cmp %[f], %[we]\n\t"
            "beq 4f\n\t"
            "3:\n\t"
            TML_DOT_2X2_STEP
            TML_DOT_2X2_STEP
            TML_DOT_2X2_STEP
            TML_DOT_2X2_STEP
            "ldr %[we], %[end]\n\t"
            "cmp %[f], %[we]\n\t"
            "bne 3b\n\t"
            "4:"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
              [f] "+r"(f), [x0] "=&r"(x0), [x1] "=&r"(x1), [x0e] "=&r"(x0e),
              [x1e] "=&r"(x1e), [w] "=&r"(w), [we] "=&r"(we)
            : [depth] "r"(depth), [end] "m"(filter_end)
            : "cc", "memory");
    }
#else
    (void)whole;
    for (; f != filter_end; x += 4, f += 4) {
        const int32_t x0 = tml_load4(x), x1 = tml_load4(x + depth);
        const int32_t x0e = __sxtb16(x0), x0o = tml_sxtb16_odd(x0);
        const int32_t x1e = __sxtb16(x1), x1o = tml_sxtb16_odd(x1);
        int32_t w = tml_load4(f);
        int32_t we = __sxtb16(w), wo = tml_sxtb16_odd(w);
        a0 = __smlad(x0e, we, __smlad(x0o, wo, a0));
        a1 = __smlad(x1e, we, __smlad(x1o, wo, a1));
        w = tml_load4(f + depth);
        we = __sxtb16(w);
        wo = tml_sxtb16_odd(w);
        a2 = __smlad(x0e, we, __smlad(x0o, wo, a2));
        a3 = __smlad(x1e, we, __smlad(x1o, wo, a3));
    }
#endif
    *x_at = x;
    *f_at = f;
    *s0 = a0;
    *s1 = a1;
    *s2 = a2;
    *s3 = a3;
}
#endif

static TML_NOINLINE void tml_pointwise_pair(const int8_t *input, const int8_t *filter,
                                            int32_t depth, int32_t positions,
                                            const tml_channel c[2], int8_t *output,
                                            int32_t out_c)
{
    /* Copied out: every int8 store may alias what the pointers point to. */
    const tml_channel c0 = c[0], c1 = c[1];
    const int8_t *const last = input + (positions - 2) * depth;
#if TML_DSP
    const int8_t *const filter_end = filter + (depth & ~3);
    const int32_t tail = depth & 3, whole = depth >> 2; /* steps of four depths */
#else
    const int32_t tail = depth;
#endif
    const int8_t *in = input;
    int8_t *out = output;
    for (;;) {
        const int8_t *x = in, *f = filter;
        int32_t a0 = c0.bias, a1 = c0.bias, a2 = c1.bias, a3 = c1.bias, i;
#if TML_DSP
        if (f != filter_end) {
            tml_dot_2x2_dsp(&x, &f, depth, filter_end, whole, &a0, &a1, &a2, &a3);
        }
#endif
        for (i = 0; i < tail; ++i) {
            const int32_t x0 = x[i], x1 = x[depth + i], w0 = f[i], w1 = f[depth + i];
            a0 += x0 * w0;
            a1 += x1 * w0;
            a2 += x0 * w1;
            a3 += x1 * w1;
        }
        out[0] = tml_output_small(a0, c0);
        out[out_c] = tml_output_small(a1, c0);
        out[1] = tml_output_small(a2, c1);
        out[out_c + 1] = tml_output_small(a3, c1);
        if (in == last) {
            break;
        }
        in += 2 * depth;
        out += 2 * out_c;
        if (in > last) {
            in = last;
            out = output + (positions - 2) * out_c;
        }
    }
}

/* A 1x1 convolution with stride 1 and no padding is a matrix product: every position's
 * input vector times every output channel's filter row, by pairs of channels (an odd last
 * one paired with the one before). The generator folded input_offset x sum(filter row) into
 * the bias (`fast`). One position or one channel: output by output. */
static TML_NOINLINE void tml_pointwise(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const int32_t positions = p->out_h * p->out_w;
    const int32_t depth = p->in_c, out_c = p->out_c;
    const tml_outputs o = tml_outputs_of(p);
    int32_t channel, position, i;
    tml_channel c[2];
    if (positions < 2 || out_c < 2) {
        for (position = 0; position < positions; ++position) {
            const int8_t *in = input + position * depth;
            for (channel = 0; channel < out_c; ++channel) {
                const int8_t *filter = p->filter + channel * depth;
                int32_t acc;
                c[0] = tml_channel_of(&o, channel);
                acc = c[0].bias;
                for (i = 0; i < depth; ++i) {
                    acc += (int32_t)in[i] * (int32_t)filter[i];
                }
                output[position * out_c + channel] = tml_output_small(acc, c[0]);
            }
        }
        return;
    }
    for (channel = 0; channel < out_c; channel += 2) {
        const int32_t first = channel + 1 < out_c ? channel : out_c - 2;
        c[0] = tml_channel_of(&o, first);
        c[1] = tml_channel_of(&o, first + 1);
        tml_pointwise_pair(input, p->filter + first * depth, depth, positions, c,
                           output + first, out_c);
    }
}

void tml_conv2d(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const int pointwise = p->filter_h == 1 && p->filter_w == 1 && p->stride_h == 1 &&
                          p->stride_w == 1 && p->pad_h == 0 && p->pad_w == 0 &&
                          p->in_h == p->out_h && p->in_w == p->out_w;
    if (p->packed_filter != 0) {
        tml_depthwise_packed(p, input, output);
    } else if (pointwise && p->fast) {
        tml_pointwise(p, input, output);
    } else if (p->fast && p->in_c == 1 && p->filter_h == 3 && p->filter_w == 3 &&
               p->dilation_h == 1 && p->dilation_w == 1) {
        tml_channelwise_3x3(p, input, output, 1, 9, 0);
    } else if (p->filter_h * p->filter_w * p->in_c <= TML_PATCH_MAX) {
        tml_conv_patch(p, input, output);
    } else {
        tml_conv_general(p, input, output);
        return;
    }
    tml_clamp_activations(p, output);
}

void tml_clamp_activations(const tml_conv_params *p, int8_t *output)
{
    const int32_t low = p->act_min, high = p->act_max;
    int32_t i;
    if (low > -128 || high < 127) {
        for (i = p->out_h * p->out_w * p->out_c - 1; i >= 0; --i) {
            output[i] = (int8_t)tml_clamp(output[i], low, high);
        }
    }
}
