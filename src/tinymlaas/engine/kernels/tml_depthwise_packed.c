/* TinyMLaaS C engine: 3x3 DEPTHWISE_CONV_2D (depth multiplier 1) on a filter the generator
 * packed by groups of four channels; byte-identical with TFLite-Micro's reference kernel.
 *
 * Group g holds channels 4g .. 4g + 3 (zeros past the last channel):
 *   packed_filter[18g + 2t], [18g + 2t + 1]: tap t (row-major 3x3) of channels (0, 2) and
 *     (1, 3) as int16 pairs (channel 0 or 1 in the low half), which is what SXTB16 makes of a
 *     word of four input channels (bytes 0, 2 and 1, 3);
 *   packed_constants[20g ..]: four biases with input_offset x the sum of the channel's nine
 *     taps folded in (positions whose taps all lie inside the input), the four plain biases,
 *     then per channel its multiplier, right shift and rounding term (tml_channel).
 * Inside the input a position costs, per group, one word load, two SXTB16 and four 16x16
 * multiply-accumulates (SMLABB / SMLATT) per tap, with the filter words in immediate offsets;
 * positions at the edges, and the channels of a last incomplete group, take the taps that
 * lie inside the input one by one, with the input offset added to each input. */
#include "tml_requantize.h"

#define TML_DW4_FILTER 18
#define TML_DW4_CONSTANTS 20

#if !TML_DSP
static int32_t tml_dw4_weight(const int32_t *w, int32_t tap, int32_t channel)
{
    const int32_t word = w[2 * tap + (channel & 1)];
    return (channel & 2) != 0 ? word >> 16 : (int32_t)(int16_t)(word & 0xffff);
}
#endif

static inline tml_channel tml_dw4_channel(const int32_t *k, int32_t bias, int32_t channel)
{
    tml_channel c;
    c.bias = bias;
    c.multiplier = k[8 + 3 * channel];
    c.right = k[9 + 3 * channel];
    c.round = k[10 + 3 * channel];
    return c;
}

/* Nine taps of one full group at one position inside the input (rows r0, r1, r2 at its left
 * column) added to a0 .. a3. With the DSP extension and a GCC-compatible compiler in
 * assembly, 9 instructions per tap (the compiler spills the 13 live registers otherwise);
 * the C is the same arithmetic. */
#if TML_DSP && defined(__GNUC__)
#define TML_DW4_TAP(row, at, t) \
    "ldr %[x], [%[" row "], %[" at "]]\n\t" \
    "ldr %[w], [%[f], #" #t "*8]\n\t" \
    "sxtb16 %[xe], %[x]\n\t" \
    "sxtb16 %[x], %[x], ror #8\n\t" \
    "smlabb %[a0], %[xe], %[w], %[a0]\n\t" \
    "smlatt %[a2], %[xe], %[w], %[a2]\n\t" \
    "ldr %[w], [%[f], #" #t "*8+4]\n\t" \
    "smlabb %[a1], %[x], %[w], %[a1]\n\t" \
    "smlatt %[a3], %[x], %[w], %[a3]\n\t"
#define TML_DW4_TAP0(row, t) \
    "ldr %[x], [%[" row "]]\n\t" \
    "ldr %[w], [%[f], #" #t "*8]\n\t" \
    "sxtb16 %[xe], %[x]\n\t" \
    "sxtb16 %[x], %[x], ror #8\n\t" \
    "smlabb %[a0], %[xe], %[w], %[a0]\n\t" \
    "smlatt %[a2], %[xe], %[w], %[a2]\n\t" \
    "ldr %[w], [%[f], #" #t "*8+4]\n\t" \
    "smlabb %[a1], %[x], %[w], %[a1]\n\t" \
    "smlatt %[a3], %[x], %[w], %[a3]\n\t"

/* One input channel for every output channel (a convolution on one channel): one
 * sign-extended byte per tap, times both halves of the filter words (SMLABB / SMLABT). */
#define TML_DW1_TAP(row, at, t) \
    "ldrsb %[x], [%[" row "], %[" at "]]\n\t" \
    "ldr %[w], [%[f], #" #t "*8]\n\t" \
    "smlabb %[a0], %[x], %[w], %[a0]\n\t" \
    "smlabt %[a2], %[x], %[w], %[a2]\n\t" \
    "ldr %[w], [%[f], #" #t "*8+4]\n\t" \
    "smlabb %[a1], %[x], %[w], %[a1]\n\t" \
    "smlabt %[a3], %[x], %[w], %[a3]\n\t"
#define TML_DW1_TAP0(row, t) \
    "ldrsb %[x], [%[" row "]]\n\t" \
    "ldr %[w], [%[f], #" #t "*8]\n\t" \
    "smlabb %[a0], %[x], %[w], %[a0]\n\t" \
    "smlabt %[a2], %[x], %[w], %[a2]\n\t" \
    "ldr %[w], [%[f], #" #t "*8+4]\n\t" \
    "smlabb %[a1], %[x], %[w], %[a1]\n\t" \
    "smlabt %[a3], %[x], %[w], %[a3]\n\t"

static inline void tml_dw4_taps(const int8_t *r0, const int8_t *r1, const int8_t *r2,
                                int32_t in_c, int32_t two, const int32_t *w, int32_t a[4],
                                int broadcast)
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], x, xe, wt;
    if (broadcast) {
        __asm__(TML_DW1_TAP0("r0", 0) TML_DW1_TAP("r0", "c", 1) TML_DW1_TAP("r0", "two", 2)
                TML_DW1_TAP0("r1", 3) TML_DW1_TAP("r1", "c", 4) TML_DW1_TAP("r1", "two", 5)
                TML_DW1_TAP0("r2", 6) TML_DW1_TAP("r2", "c", 7) TML_DW1_TAP("r2", "two", 8)
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "=&r"(x),
                  [w] "=&r"(wt)
                : [r0] "r"(r0), [r1] "r"(r1), [r2] "r"(r2), [c] "r"(in_c), [two] "r"(two),
                  [f] "r"(w)
                : "memory");
    } else {
    __asm__(TML_DW4_TAP0("r0", 0) TML_DW4_TAP("r0", "c", 1) TML_DW4_TAP("r0", "two", 2)
            TML_DW4_TAP0("r1", 3) TML_DW4_TAP("r1", "c", 4) TML_DW4_TAP("r1", "two", 5)
            TML_DW4_TAP0("r2", 6) TML_DW4_TAP("r2", "c", 7) TML_DW4_TAP("r2", "two", 8)
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "=&r"(x),
              [xe] "=&r"(xe), [w] "=&r"(wt)
            : [r0] "r"(r0), [r1] "r"(r1), [r2] "r"(r2), [c] "r"(in_c), [two] "r"(two),
              [f] "r"(w)
            : "memory");
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
}
#elif TML_DSP
/* Compilers without GCC-style assembly: the same taps in C. */
static inline void tml_dw4_taps(const int8_t *r0, const int8_t *r1, const int8_t *r2,
                                int32_t in_c, int32_t two, const int32_t *w, int32_t a[4],
                                int broadcast)
{
    const int32_t step = broadcast ? 0 : 1;
    const int8_t *rows[3];
    const int32_t columns[3] = {0, in_c, two};
    int32_t t;
    rows[0] = r0;
    rows[1] = r1;
    rows[2] = r2;
    for (t = 0; t < 9; ++t) {
        const int8_t *x = rows[t / 3] + columns[t % 3];
        const int32_t even = w[2 * t], odd = w[2 * t + 1];
        a[0] += (int32_t)x[0] * (int32_t)(int16_t)(even & 0xffff);
        a[1] += (int32_t)x[step] * (int32_t)(int16_t)(odd & 0xffff);
        a[2] += (int32_t)x[2 * step] * (even >> 16);
        a[3] += (int32_t)x[3 * step] * (odd >> 16);
    }
}
#endif

#if TML_DSP
/* `count` positions of one full group along an output row whose taps all lie inside the
 * input: rows r0, r1, r2 at the first position's left column, `step` bytes per position. */
static TML_NOINLINE void tml_dw4_row(const int8_t *r0, int32_t row_bytes, int32_t in_c,
                                     int32_t step, int32_t count, const int32_t *w,
                                     const int32_t *k, int8_t *out, int32_t out_c,
                                     int broadcast)
{
    const int8_t *r1 = r0 + row_bytes, *r2 = r1 + row_bytes;
    int8_t *const end = out + count * out_c;
    for (; out != end; r0 += step, r1 += step, r2 += step, out += out_c) {
        int32_t a[4];
        a[0] = k[0];
        a[1] = k[1];
        a[2] = k[2];
        a[3] = k[3];
        tml_dw4_taps(r0, r1, r2, in_c, 2 * in_c, w, a, broadcast);
        out[0] = tml_output_small(a[0], tml_dw4_channel(k, 0, 0));
        out[1] = tml_output_small(a[1], tml_dw4_channel(k, 0, 1));
        out[2] = tml_output_small(a[2], tml_dw4_channel(k, 0, 2));
        out[3] = tml_output_small(a[3], tml_dw4_channel(k, 0, 3));
    }
}
#else
/* The portable C: channel by channel, the channel's nine weights in registers. */
static TML_NOINLINE void tml_dw4_row(const int8_t *r0, int32_t row_bytes, int32_t in_c,
                                     int32_t step, int32_t count, const int32_t *w,
                                     const int32_t *k, int8_t *out, int32_t out_c,
                                     int broadcast)
{
    const int32_t two = 2 * in_c;
    int32_t channel, n;
    for (channel = 0; channel < 4; ++channel) {
        const int32_t w0 = tml_dw4_weight(w, 0, channel), w1 = tml_dw4_weight(w, 1, channel);
        const int32_t w2 = tml_dw4_weight(w, 2, channel), w3 = tml_dw4_weight(w, 3, channel);
        const int32_t w4 = tml_dw4_weight(w, 4, channel), w5 = tml_dw4_weight(w, 5, channel);
        const int32_t w6 = tml_dw4_weight(w, 6, channel), w7 = tml_dw4_weight(w, 7, channel);
        const int32_t w8 = tml_dw4_weight(w, 8, channel), bias = k[channel];
        const tml_channel c = tml_dw4_channel(k, 0, channel);
        const int8_t *a = r0 + (broadcast ? 0 : channel), *b = a + row_bytes;
        const int8_t *d = b + row_bytes;
        int8_t *o = out + channel;
        for (n = 0; n < count; ++n, a += step, b += step, d += step, o += out_c) {
            int32_t acc = bias + a[0] * w0 + a[in_c] * w1 + a[two] * w2;
            acc += b[0] * w3 + b[in_c] * w4 + b[two] * w5;
            acc += d[0] * w6 + d[in_c] * w7 + d[two] * w8;
            *o = tml_output_small(acc, c);
        }
    }
}
#endif

/* Groups [g0, g1) at one position, over the taps inside the input, the input offset added to
 * each input (four channels at a time with the DSP extension); `out` is the position's. */
static TML_NOINLINE void tml_dw4_edge(const tml_conv_params *p, const int8_t *input,
                                      int32_t out_y, int32_t out_x, int32_t g0, int32_t g1,
                                      int8_t *out)
{
    const int32_t origin_y = out_y * p->stride_h - p->pad_h;
    const int32_t origin_x = out_x * p->stride_w - p->pad_w;
    const int32_t y0 = origin_y < 0 ? -origin_y : 0, x0 = origin_x < 0 ? -origin_x : 0;
    const int32_t y1 = p->in_h - origin_y < 3 ? p->in_h - origin_y : 3;
    const int32_t x1 = p->in_w - origin_x < 3 ? p->in_w - origin_x : 3;
    const int32_t in_c = p->in_c, row_bytes = p->in_w * in_c, offset = p->input_offset;
    const int32_t step = in_c == 1 ? 0 : 1, rows = y1 - y0, columns = x1 - x0;
    /* The first tap inside the input, and its filter words. */
    const int8_t *const first = input + ((origin_y + y0) * p->in_w + origin_x + x0) * in_c;
    const int32_t skip = 2 * (3 * y0 + x0);
    int32_t g, channel, fy, n;
    for (g = g0; g < g1; ++g) {
        const int32_t *const taps = p->packed_filter + TML_DW4_FILTER * g + skip;
        const int32_t *const k = p->packed_constants + TML_DW4_CONSTANTS * g;
        const int8_t *const corner = first + 4 * g * step;
        const int32_t channels = p->out_c - 4 * g < 4 ? p->out_c - 4 * g : 4;
        const int8_t *row;
#if TML_DSP
        if (channels == 4) {
            const int32_t offsets = (int32_t)(((uint32_t)offset & 0xffffu) * 0x00010001u);
            int32_t a0 = k[4], a1 = k[5], a2 = k[6], a3 = k[7];
            const int32_t *tap = taps;
            for (fy = rows, row = corner; fy > 0; --fy, row += row_bytes, tap += 6) {
                const int8_t *x = row;
                const int32_t *t = tap;
                for (n = columns; n > 0; --n, x += in_c, t += 2) {
                    if (step != 0) {
                        const int32_t word = tml_load4(x);
                        const int32_t xe = __sadd16(__sxtb16(word), offsets);
                        const int32_t xo = __sadd16(tml_sxtb16_odd(word), offsets);
                        a0 = __smlabb(xe, t[0], a0);
                        a2 = __smlatt(xe, t[0], a2);
                        a1 = __smlabb(xo, t[1], a1);
                        a3 = __smlatt(xo, t[1], a3);
                    } else {
                        const int32_t value = (int32_t)*x + offset;
                        a0 = __smlabb(value, t[0], a0);
                        a2 = __smlabt(value, t[0], a2);
                        a1 = __smlabb(value, t[1], a1);
                        a3 = __smlabt(value, t[1], a3);
                    }
                }
            }
            out[4 * g] = tml_output_small(a0, tml_dw4_channel(k, 0, 0));
            out[4 * g + 1] = tml_output_small(a1, tml_dw4_channel(k, 0, 1));
            out[4 * g + 2] = tml_output_small(a2, tml_dw4_channel(k, 0, 2));
            out[4 * g + 3] = tml_output_small(a3, tml_dw4_channel(k, 0, 3));
            continue;
        }
#endif
        for (channel = 0; channel < channels; ++channel) {
            /* The channel's half of its words: shifted up to the top, then down, signed. */
            const int32_t up = (channel & 2) != 0 ? 0 : 16;
            const int32_t *tap = taps + (channel & 1);
            int32_t acc = k[4 + channel];
            for (fy = 0, row = corner + channel * step; fy < rows; ++fy, row += row_bytes) {
                const int8_t *x = row;
                const int32_t *t = tap + 6 * fy;
                for (n = 0; n < columns; ++n, x += in_c, t += 2) {
                    acc += ((int32_t)*x + offset) * ((int32_t)((uint32_t)*t << up) >> 16);
                }
            }
            out[4 * g + channel] = tml_output_small(acc, tml_dw4_channel(k, 0, channel));
        }
    }
}

/* The outputs [first, last) along one axis whose three taps all lie inside the input. */
static void tml_dw4_interior(int32_t out_size, int32_t stride, int32_t pad, int32_t in_size,
                             int32_t range[2])
{
    const int32_t first = (pad + stride - 1) / stride;
    int32_t last = in_size - 3 + pad >= 0 ? (in_size - 3 + pad) / stride + 1 : 0;
    last = last < out_size ? last : out_size;
    range[0] = first < last ? first : last;
    range[1] = last;
}

void tml_depthwise_packed(const tml_conv_params *p, const int8_t *input, int8_t *output)
{
    const int32_t out_c = p->out_c, in_c = p->in_c, row_bytes = p->in_w * p->in_c;
    const int32_t groups = (out_c + 3) / 4, full = out_c / 4;
    const int broadcast = in_c == 1;
    int32_t ys[2], xs[2], out_y, out_x, g;
    tml_dw4_interior(p->out_h, p->stride_h, p->pad_h, p->in_h, ys);
    tml_dw4_interior(p->out_w, p->stride_w, p->pad_w, p->in_w, xs);
    for (out_y = 0; out_y < p->out_h; ++out_y) {
        int8_t *row = output + out_y * p->out_w * out_c;
        const int inside = out_y >= ys[0] && out_y < ys[1] && xs[1] > xs[0];
        const int32_t first = inside ? xs[0] : p->out_w, last = inside ? xs[1] : p->out_w;
        for (out_x = 0; out_x < first; ++out_x) {
            tml_dw4_edge(p, input, out_y, out_x, 0, groups, row + out_x * out_c);
        }
        for (g = 0; g < full && last > first; ++g) {
            const int32_t corner = (out_y * p->stride_h - p->pad_h) * row_bytes +
                                   (first * p->stride_w - p->pad_w) * in_c;
            tml_dw4_row(input + corner + (broadcast ? 0 : 4 * g), row_bytes, in_c,
                        p->stride_w * in_c, last - first, p->packed_filter + TML_DW4_FILTER * g,
                        p->packed_constants + TML_DW4_CONSTANTS * g, row + first * out_c + 4 * g,
                        out_c, broadcast);
        }
        for (out_x = first; out_x < last && full < groups; ++out_x) {
            tml_dw4_edge(p, input, out_y, out_x, full, groups, row + out_x * out_c);
        }
        for (out_x = last; out_x < p->out_w; ++out_x) {
            tml_dw4_edge(p, input, out_y, out_x, 0, groups, row + out_x * out_c);
        }
    }
}
