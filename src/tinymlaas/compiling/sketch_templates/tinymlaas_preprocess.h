/*
 * TinyMLaaS image preprocessing: camera frame -> model input, exactly as the virtual device
 * does it. Plain C99 (and C++) without Arduino dependencies, so it is tested on the server.
 *
 * 1. Center-crop the frame to the model's aspect ratio (the largest such centred region).
 * 2. Nearest-neighbour sample the crop: output (x, y) reads crop pixel
 *    ((2x + 1) * crop_width / (2 * width), (2y + 1) * crop_height / (2 * height)), integer division.
 * 3. RGB565 (high byte first) expands to 8-bit channels by bit replication; grayscale from RGB
 *    is (19595 R + 38470 G + 7471 B + 32768) >> 16 (the ITU-R 601 weights Pillow's "L" uses).
 * 4. int8 models: q = (int)(pixel / scale + 0.5f) + zero_point in float32, clamped to
 *    [-128, 127]; float models receive the raw pixel value 0..255 (rescaling is in the model).
 */
#ifndef TINYMLAAS_PREPROCESS_H_
#define TINYMLAAS_PREPROCESS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const uint8_t *pixels;
  int width;
  int height;
  int rgb565; /* 0: one byte of gray per pixel; 1: two bytes RGB565, high byte first */
} tml_frame;

static inline uint8_t tml_gray(uint8_t r, uint8_t g, uint8_t b) {
  return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 0x8000u) >> 16);
}

static inline void tml_frame_pixel(const tml_frame *frame, int x, int y, uint8_t rgb[3]) {
  size_t index = (size_t)y * (size_t)frame->width + (size_t)x;
  if (frame->rgb565) {
    unsigned int value = ((unsigned int)frame->pixels[2 * index] << 8) | frame->pixels[2 * index + 1];
    unsigned int r5 = (value >> 11) & 0x1F, g6 = (value >> 5) & 0x3F, b5 = value & 0x1F;
    rgb[0] = (uint8_t)((r5 << 3) | (r5 >> 2));
    rgb[1] = (uint8_t)((g6 << 2) | (g6 >> 4));
    rgb[2] = (uint8_t)((b5 << 3) | (b5 >> 2));
  } else {
    rgb[0] = rgb[1] = rgb[2] = frame->pixels[index];
  }
}

static inline int8_t tml_quantize(uint8_t pixel, float scale, int zero_point) {
  int q = (int)((float)pixel / scale + 0.5f) + zero_point;
  return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

/* Fills width*height*channels values (row-major, channels last) into exactly one of
 * out_int8 / out_float; channels is 1 (grayscale) or 3 (RGB). */
static inline void tml_preprocess(const tml_frame *frame, int width, int height, int channels,
                                  float scale, int zero_point, int8_t *out_int8,
                                  float *out_float) {
  long crop_width = frame->width, crop_height = frame->height;
  long x0, y0;
  int x, y, c;
  size_t out = 0;
  if (crop_width * height > crop_height * width) {
    crop_width = crop_height * width / height;
  } else {
    crop_height = crop_width * height / width;
  }
  x0 = (frame->width - crop_width) / 2;
  y0 = (frame->height - crop_height) / 2;
  for (y = 0; y < height; ++y) {
    int source_y = (int)(y0 + (2L * y + 1) * crop_height / (2L * height));
    for (x = 0; x < width; ++x) {
      int source_x = (int)(x0 + (2L * x + 1) * crop_width / (2L * width));
      uint8_t rgb[3];
      tml_frame_pixel(frame, source_x, source_y, rgb);
      for (c = 0; c < channels; ++c) {
        uint8_t value = channels == 1 ? tml_gray(rgb[0], rgb[1], rgb[2]) : rgb[c];
        if (out_int8 != NULL) {
          out_int8[out++] = tml_quantize(value, scale, zero_point);
        } else {
          out_float[out++] = (float)value;
        }
      }
    }
  }
}

#ifdef __cplusplus
}
#endif

#endif /* TINYMLAAS_PREPROCESS_H_ */
