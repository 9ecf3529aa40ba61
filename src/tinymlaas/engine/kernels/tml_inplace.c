/* TinyMLaaS C engine: windowed operators run in place (see tml_inplace.h).
 * Output row y reads the input rows from y * stride - pad over the filter's window; the
 * ordinary kernel computes it alone, on parameters narrowed to that window, into the scratch
 * ring, so the kernel never reads bytes it writes. */
#include "tml_inplace.h"

#include <string.h>

/* One output row of an operator into `out` (never inside the region). */
typedef void (*tml_row_kernel)(const void *params, int32_t row, const int8_t *input,
                               int8_t *out);

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

static void tml_rows_in_place(const void *params, tml_row_kernel kernel, int32_t out_h,
                              int32_t row_bytes, const int8_t *input, int8_t *output,
                              int8_t *scratch, int32_t lag)
{
    int32_t row, done = 0;
    for (row = 0; row < out_h; ++row) {
        kernel(params, row, input, scratch + (row % lag) * row_bytes);
        /* Row `done` may be written back once `lag` rows after it have been computed. */
        if (row - done + 1 >= lag) {
            tml_commit(scratch + (done % lag) * row_bytes, output + done * row_bytes, row_bytes);
            ++done;
        }
    }
    for (; done < out_h; ++done) {
        tml_commit(scratch + (done % lag) * row_bytes, output + done * row_bytes, row_bytes);
    }
}

/* The input rows [*first, *first + rows) that output row `row` can read, and the padding rows
 * above them: the same window the ordinary kernel would see for that row. */
static int32_t tml_row_window(int32_t row, int32_t stride, int32_t pad, int32_t span,
                              int32_t in_h, int32_t *first, int32_t *pad_above)
{
    const int32_t origin = row * stride - pad;
    int32_t end = origin + span;
    *first = origin > 0 ? origin : 0;
    *pad_above = *first - origin;
    end = end < in_h ? end : in_h;
    return end > *first ? end - *first : 0;
}

static void tml_conv_row(const tml_conv_params *p, int32_t row, const int8_t *input,
                         int8_t *out, int depthwise)
{
    tml_conv_params narrow = *p;
    int32_t first;
    const int32_t span = (p->filter_h - 1) * p->dilation_h + 1;
    narrow.in_h =
        tml_row_window(row, p->stride_h, p->pad_h, span, p->in_h, &first, &narrow.pad_h);
    narrow.out_h = 1;
    input += first * p->in_w * p->in_c;
    if (depthwise) {
        tml_depthwise_conv2d(&narrow, input, out);
    } else {
        tml_conv2d(&narrow, input, out);
    }
}

static void tml_conv_row_kernel(const void *params, int32_t row, const int8_t *input,
                                int8_t *out)
{
    tml_conv_row((const tml_conv_params *)params, row, input, out, 0);
}

static void tml_depthwise_row_kernel(const void *params, int32_t row, const int8_t *input,
                                     int8_t *out)
{
    tml_conv_row((const tml_conv_params *)params, row, input, out, 1);
}

static void tml_pool_row(const tml_pool_params *p, int32_t row, const int8_t *input,
                         int8_t *out, int average)
{
    tml_pool_params narrow = *p;
    int32_t first;
    narrow.in_h =
        tml_row_window(row, p->stride_h, p->pad_h, p->filter_h, p->in_h, &first, &narrow.pad_h);
    narrow.out_h = 1;
    input += first * p->in_w * p->channels;
    if (average) {
        tml_average_pool2d(&narrow, input, out);
    } else {
        tml_max_pool2d(&narrow, input, out);
    }
}

static void tml_max_pool_row_kernel(const void *params, int32_t row, const int8_t *input,
                                    int8_t *out)
{
    tml_pool_row((const tml_pool_params *)params, row, input, out, 0);
}

static void tml_average_pool_row_kernel(const void *params, int32_t row, const int8_t *input,
                                        int8_t *out)
{
    tml_pool_row((const tml_pool_params *)params, row, input, out, 1);
}

void tml_conv2d_in_place(const tml_conv_params *p, const int8_t *input, int8_t *output,
                         int8_t *scratch, int32_t lag)
{
    tml_rows_in_place(p, tml_conv_row_kernel, p->out_h, p->out_w * p->out_c, input, output,
                      scratch, lag);
}

void tml_depthwise_conv2d_in_place(const tml_conv_params *p, const int8_t *input,
                                   int8_t *output, int8_t *scratch, int32_t lag)
{
    tml_rows_in_place(p, tml_depthwise_row_kernel, p->out_h, p->out_w * p->out_c, input,
                      output, scratch, lag);
}

void tml_max_pool2d_in_place(const tml_pool_params *p, const int8_t *input, int8_t *output,
                             int8_t *scratch, int32_t lag)
{
    tml_rows_in_place(p, tml_max_pool_row_kernel, p->out_h, p->out_w * p->channels, input,
                      output, scratch, lag);
}

void tml_average_pool2d_in_place(const tml_pool_params *p, const int8_t *input,
                                 int8_t *output, int8_t *scratch, int32_t lag)
{
    tml_rows_in_place(p, tml_average_pool_row_kernel, p->out_h, p->out_w * p->channels,
                      input, output, scratch, lag);
}
