/* TinyMLaaS C engine: windowed operators run in place, row by row.
 * The output starts at `output` and the input at `input`, inside one shared region (the
 * input may begin after the output's first byte). The ordinary kernel computes the output
 * rows in order: straight to their place where that lies below all the input still to be
 * read, otherwise into `scratch`, a ring of `lag` rows, each copied to its place once no
 * later row reads the input bytes it covers; the code generator computes `lag` from the
 * geometry. The results are the ordinary kernels' bytes. */
#ifndef TML_INPLACE_H
#define TML_INPLACE_H

#include <stdint.h>

#include "tml_kernels.h"

void tml_conv2d_in_place(const tml_conv_params *p, const int8_t *input, int8_t *output,
                         int8_t *scratch, int32_t lag);
void tml_depthwise_conv2d_in_place(const tml_conv_params *p, const int8_t *input,
                                   int8_t *output, int8_t *scratch, int32_t lag);
void tml_max_pool2d_in_place(const tml_pool_params *p, const int8_t *input, int8_t *output,
                             int8_t *scratch, int32_t lag);
void tml_average_pool2d_in_place(const tml_pool_params *p, const int8_t *input,
                                 int8_t *output, int8_t *scratch, int32_t lag);

#endif /* TML_INPLACE_H */
