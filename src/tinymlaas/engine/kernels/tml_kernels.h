/* TinyMLaaS C engine: int8 kernels mirroring TFLite-Micro's reference arithmetic.
 * C99, no allocation, no dependency beyond <stdint.h>. Every exported name starts with tml_.
 * Tensors are NHWC with batch 1; parameters are compile-time constants from the generator. */
#ifndef TML_KERNELS_H
#define TML_KERNELS_H

#include <stdint.h>

/* Requantization shared by the kernels (TFLite's MultiplyByQuantizedMultiplier). */
int32_t tml_requantize(int32_t value, int32_t multiplier, int32_t shift);

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int32_t depth_multiplier;          /* depthwise only */
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    const int8_t *filter;              /* conv: [out_c][fh][fw][in_c]; depthwise: [fh][fw][out_c] */
    const int32_t *bias;               /* may be 0 */
    const int32_t *multiplier;         /* per output channel */
    const int32_t *shift;
    /* 1 when the generator proved the fast paths' conditions: |accumulator + bias| < 2^30 and
     * every shift a right shift; a pointwise conv's bias then holds input_offset x the sum of
     * its filter row too (1x1, stride 1, no padding). */
    int32_t fast;
    /* A 3x3 depthwise conv with depth multiplier 1 and `fast`: 0, or its filter and constants
     * as the generator packed them by groups of four channels (tml_depthwise_packed.c), which
     * the kernel then reads instead of filter, bias, multiplier and shift. */
    const int32_t *packed_filter;
    const int32_t *packed_constants;
} tml_conv_params;

void tml_conv2d(const tml_conv_params *p, const int8_t *input, int8_t *output);
void tml_depthwise_conv2d(const tml_conv_params *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t input_offset, filter_offset, output_offset;
    int32_t act_min, act_max;
    const int8_t *filter;              /* [out_depth][in_depth] */
    const int32_t *bias;
    const int32_t *multiplier;         /* per output unit */
    const int32_t *shift;
} tml_fc_params;

void tml_fully_connected(const tml_fc_params *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t in_h, in_w, channels, out_h, out_w;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} tml_pool_params;

void tml_max_pool2d(const tml_pool_params *p, const int8_t *input, int8_t *output);
void tml_average_pool2d(const tml_pool_params *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t outer, reduced, inner;     /* input viewed as [outer][reduced][inner] */
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;         /* input_scale / (output_scale * reduced) */
} tml_mean_params;

void tml_mean(const tml_mean_params *p, const int8_t *input, int8_t *output);

/* Element-wise ops broadcast over up to 4 dimensions: strides are 0 on broadcast axes. */
typedef struct {
    int32_t dims[4];
    int32_t stride1[4], stride2[4];
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;                /* ADD only */
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tml_binary_params;

void tml_add(const tml_binary_params *p, const int8_t *input1, const int8_t *input2,
             int8_t *output);
void tml_mul(const tml_binary_params *p, const int8_t *input1, const int8_t *input2,
             int8_t *output);

/* An element-wise op of one activation and one constant, as its 256 outputs:
 * output[i] = table[input[i] + 128]. */
void tml_lookup(const int8_t *table, const int8_t *input, int8_t *output, int32_t size);

typedef struct {
    int32_t outer, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} tml_softmax_params;

void tml_softmax(const tml_softmax_params *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t in_dims[4], out_dims[4], before[4];
    int8_t pad_value;
} tml_pad_params;

void tml_pad(const tml_pad_params *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t size, input_zero_point, output_zero_point, multiplier, shift;
} tml_requantize_params;

void tml_requantize_tensor(const tml_requantize_params *p, const int8_t *input, int8_t *output);

void tml_copy(const int8_t *input, int8_t *output, int32_t size);

#endif /* TML_KERNELS_H */
