/* TinyMLaaS C engine: windowed operators run in place (see tml_inplace.h).
 * Output row y reads the input rows from y * stride - pad over the filter's window. The
 * ordinary kernel computes a run of rows on parameters narrowed to their window, either
 * straight to their place (when it lies below every input byte still to be read) or one row
 * into the scratch ring: it never reads bytes it writes. */
#include "tml_inplace.h"

#include <string.h>

/* Output rows [row, row + count) of an operator into `out` (which they never overlap). */
typedef void (*tml_rows_kernel)(const void *params, int32_t row, int32_t count,
                                const int8_t *input, int8_t *out);

typedef struct {
    int32_t out_h, out_row_bytes, in_row_bytes, stride, pad;
} tml_rows_geometry;

/* Copy one finished row from the scratch to its place, a word at a time where possible. */
static void tml_commit(const int8_t *from, int8_t *to, int32_t size)
{
    int32_t i = 0;
    for (; i + 4 <= size; i += 4) {
        uint32_t word;
        memcpy(&word, from + i, sizeof word);
        memcpy(to + i, &word, sizeof word);
    }
    for (; i < size; ++i) {
        to[i] = from[i];
    }
}

/* The first input byte output row `row` (and every later row) still reads. */
static const int8_t *tml_needed(const tml_rows_geometry *g, const int8_t *input, int32_t row)
{
    const int32_t first = row * g->stride - g->pad;
    return input + (first > 0 ? first : 0) * g->in_row_bytes;
}

/* A row whose place lies wholly below the input it and later rows read is written there
 * directly (consecutive such rows in one kernel call); any other row goes to the scratch
 * ring and is copied to its place `lag` rows later, when no row still to come reads the
 * input beneath it. */
static void tml_rows_in_place(const void *params, tml_rows_kernel kernel,
                              const tml_rows_geometry *g, const int8_t *input, int8_t *output,
                              int8_t *scratch, int32_t lag)
{
    const int32_t size = g->out_row_bytes;
    int32_t row = 0, done = 0;
    while (row < g->out_h) {
        const int8_t *needed = tml_needed(g, input, row);
        int32_t count = 0;
        while (row + count < g->out_h && output + (row + count + 1) * size <= needed) {
            ++count;
        }
        if (count > 0) {
            kernel(params, row, count, input, output + row * size);
            row += count;
        } else {
            kernel(params, row, 1, input, scratch + (row % lag) * size);
            row += 1;
        }
        for (; done < g->out_h && (row - done >= lag || row == g->out_h); ++done) {
            if (output + (done + 1) * size > tml_needed(g, input, done)) {
                tml_commit(scratch + (done % lag) * size, output + done * size, size);
            }
        }
    }
}

/* The input rows [*first, *first + rows) that output rows [row, row + count) read, and the
 * padding rows above them: the window the ordinary kernel would see for those rows. */
static int32_t tml_rows_window(int32_t row, int32_t count, int32_t stride, int32_t pad,
                               int32_t span, int32_t in_h, int32_t *first, int32_t *pad_above)
{
    const int32_t origin = row * stride - pad;
    int32_t end = (row + count - 1) * stride - pad + span;
    *first = origin > 0 ? origin : 0;
    *pad_above = *first - origin;
    end = end < in_h ? end : in_h;
    return end > *first ? end - *first : 0;
}

static void tml_conv_rows(const tml_conv_params *p, int32_t row, int32_t count,
                          const int8_t *input, int8_t *out, int depthwise)
{
    tml_conv_params narrow = *p;
    int32_t first;
    const int32_t span = (p->filter_h - 1) * p->dilation_h + 1;
    narrow.in_h = tml_rows_window(row, count, p->stride_h, p->pad_h, span, p->in_h, &first,
                                  &narrow.pad_h);
    narrow.out_h = count;
    input += first * p->in_w * p->in_c;
    if (depthwise) {
        tml_depthwise_conv2d(&narrow, input, out);
    } else {
        tml_conv2d(&narrow, input, out);
    }
}

static void tml_conv_rows_kernel(const void *params, int32_t row, int32_t count,
                                 const int8_t *input, int8_t *out)
{
    tml_conv_rows((const tml_conv_params *)params, row, count, input, out, 0);
}

static void tml_depthwise_rows_kernel(const void *params, int32_t row, int32_t count,
                                      const int8_t *input, int8_t *out)
{
    tml_conv_rows((const tml_conv_params *)params, row, count, input, out, 1);
}

static void tml_pool_rows(const tml_pool_params *p, int32_t row, int32_t count,
                          const int8_t *input, int8_t *out, int average)
{
    tml_pool_params narrow = *p;
    int32_t first;
    narrow.in_h = tml_rows_window(row, count, p->stride_h, p->pad_h, p->filter_h, p->in_h,
                                  &first, &narrow.pad_h);
    narrow.out_h = count;
    input += first * p->in_w * p->channels;
    if (average) {
        tml_average_pool2d(&narrow, input, out);
    } else {
        tml_max_pool2d(&narrow, input, out);
    }
}

static void tml_max_pool_rows_kernel(const void *params, int32_t row, int32_t count,
                                     const int8_t *input, int8_t *out)
{
    tml_pool_rows((const tml_pool_params *)params, row, count, input, out, 0);
}

static void tml_average_pool_rows_kernel(const void *params, int32_t row, int32_t count,
                                         const int8_t *input, int8_t *out)
{
    tml_pool_rows((const tml_pool_params *)params, row, count, input, out, 1);
}

static tml_rows_geometry tml_conv_geometry(const tml_conv_params *p)
{
    tml_rows_geometry g;
    g.out_h = p->out_h;
    g.out_row_bytes = p->out_w * p->out_c;
    g.in_row_bytes = p->in_w * p->in_c;
    g.stride = p->stride_h;
    g.pad = p->pad_h;
    return g;
}

static tml_rows_geometry tml_pool_geometry(const tml_pool_params *p)
{
    tml_rows_geometry g;
    g.out_h = p->out_h;
    g.out_row_bytes = p->out_w * p->channels;
    g.in_row_bytes = p->in_w * p->channels;
    g.stride = p->stride_h;
    g.pad = p->pad_h;
    return g;
}

void tml_conv2d_in_place(const tml_conv_params *p, const int8_t *input, int8_t *output,
                         int8_t *scratch, int32_t lag)
{
    const tml_rows_geometry g = tml_conv_geometry(p);
    tml_rows_in_place(p, tml_conv_rows_kernel, &g, input, output, scratch, lag);
}

void tml_depthwise_conv2d_in_place(const tml_conv_params *p, const int8_t *input,
                                   int8_t *output, int8_t *scratch, int32_t lag)
{
    const tml_rows_geometry g = tml_conv_geometry(p);
    tml_rows_in_place(p, tml_depthwise_rows_kernel, &g, input, output, scratch, lag);
}

void tml_max_pool2d_in_place(const tml_pool_params *p, const int8_t *input, int8_t *output,
                             int8_t *scratch, int32_t lag)
{
    const tml_rows_geometry g = tml_pool_geometry(p);
    tml_rows_in_place(p, tml_max_pool_rows_kernel, &g, input, output, scratch, lag);
}

void tml_average_pool2d_in_place(const tml_pool_params *p, const int8_t *input,
                                 int8_t *output, int8_t *scratch, int32_t lag)
{
    const tml_rows_geometry g = tml_pool_geometry(p);
    tml_rows_in_place(p, tml_average_pool_rows_kernel, &g, input, output, scratch, lag);
}
