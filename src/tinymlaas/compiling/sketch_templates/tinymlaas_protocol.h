/*
 * TinyMLaaS serial protocol, version 1: formatting device lines and recognising PING.
 *
 * The grammar is in the TinyMLaaS docs (docs/serial-protocol.md). This header is plain
 * C99 (and C++) with no Arduino dependency, so the server's tests compile it with gcc and
 * compare its lines byte for byte with the Python implementation.
 */
#ifndef TINYMLAAS_PROTOCOL_H_
#define TINYMLAAS_PROTOCOL_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TML_PROTOCOL_VERSION 1
#define TML_MAX_LINE_BYTES 4096
#define TML_SCORE_DECIMALS 4
#define TML_LATENCY_DECIMALS 3
/* Incoming host lines are short (PING); longer input is dropped until the next line. */
#define TML_INPUT_BYTES 64

#ifdef __cplusplus
extern "C" {
#endif

/* A line being built into a caller-owned buffer; `overflow` set means it did not fit. */
typedef struct {
  char *data;
  size_t capacity;
  size_t length;
  int overflow;
} tml_line;

/* CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no xor-out. */
static inline uint16_t tml_crc16(const char *bytes, size_t count) {
  uint16_t crc = 0xFFFF;
  size_t i;
  int bit;
  for (i = 0; i < count; ++i) {
    crc ^= (uint16_t)((uint16_t)(unsigned char)bytes[i] << 8);
    for (bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
  }
  return crc;
}

static inline void tml_put(tml_line *line, char c) {
  /* One byte stays free for the terminating NUL, so the buffer is always a C string. */
  if (line->length + 1 < line->capacity) {
    line->data[line->length++] = c;
    line->data[line->length] = '\0';
  } else {
    line->overflow = 1;
  }
}

static inline void tml_put_raw(tml_line *line, const char *text) {
  while (*text) tml_put(line, *text++);
}

static inline int tml_is_safe(unsigned char c) {
  return c >= 0x20 && c < 0x7F && c != '$' && c != '*' && c != ',' && c != ';' && c != '=' &&
         c != '%';
}

/* Percent-encodes every byte that is not printable ASCII or is a protocol delimiter. */
static inline void tml_put_text(tml_line *line, const char *text) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *p;
  for (p = (const unsigned char *)text; *p; ++p) {
    if (tml_is_safe(*p)) {
      tml_put(line, (char)*p);
    } else {
      tml_put(line, '%');
      tml_put(line, hex[*p >> 4]);
      tml_put(line, hex[*p & 0x0F]);
    }
  }
}

static inline void tml_put_uint(tml_line *line, unsigned long long value) {
  char digits[20];
  int count = 0;
  do {
    digits[count++] = (char)('0' + (int)(value % 10));
    value /= 10;
  } while (value != 0);
  while (count > 0) tml_put(line, digits[--count]);
}

/* Fixed-point with `decimals` digits, rounding half up in double precision (no printf %f,
 * which some Arduino cores leave out). The host formats with the same arithmetic. */
static inline void tml_put_fixed(tml_line *line, double value, int decimals) {
  unsigned long long scale = 1, scaled, digit;
  int i;
  for (i = 0; i < decimals; ++i) scale *= 10;
  if (!(value >= 0.0)) value = 0.0; /* also catches NaN */
  if (value > 1e12) value = 1e12;
  scaled = (unsigned long long)(value * (double)scale + 0.5);
  tml_put_uint(line, scaled / scale);
  tml_put(line, '.');
  for (digit = scale / 10; digit > 0; digit /= 10) {
    tml_put(line, (char)('0' + (int)((scaled / digit) % 10)));
  }
}

static inline void tml_begin(tml_line *line, char *buffer, size_t capacity, const char *type) {
  line->data = buffer;
  line->capacity = capacity;
  line->length = 0;
  line->overflow = 0;
  if (capacity > 0) buffer[0] = '\0';
  tml_put_raw(line, "$TML1,"); /* "TML" + TML_PROTOCOL_VERSION */
  tml_put_raw(line, type);
}

static inline void tml_next_field(tml_line *line) { tml_put(line, ','); }

/* Appends "*CCCC\n"; returns the line's length, or 0 when it did not fit the buffer. */
static inline size_t tml_end(tml_line *line) {
  static const char hex[] = "0123456789ABCDEF";
  uint16_t crc;
  if (line->overflow || line->length < 1) return 0;
  crc = tml_crc16(line->data + 1, line->length - 1);
  tml_put(line, '*');
  tml_put(line, hex[(crc >> 12) & 0x0F]);
  tml_put(line, hex[(crc >> 8) & 0x0F]);
  tml_put(line, hex[(crc >> 4) & 0x0F]);
  tml_put(line, hex[crc & 0x0F]);
  tml_put(line, '\n');
  return line->overflow ? 0 : line->length;
}

static inline size_t tml_format_ping(char *buffer, size_t capacity) {
  tml_line line;
  tml_begin(&line, buffer, capacity, "PING");
  return tml_end(&line);
}

/* HELLO,<model id>,<board>,<W>x<H>x<C>,<label>;<label>;... */
static inline size_t tml_format_hello(char *buffer, size_t capacity, const char *model_id,
                                      const char *board, int width, int height, int channels,
                                      const char *const *labels, size_t label_count) {
  tml_line line;
  size_t i;
  tml_begin(&line, buffer, capacity, "HELLO");
  tml_next_field(&line);
  tml_put_text(&line, model_id);
  tml_next_field(&line);
  tml_put_text(&line, board);
  tml_next_field(&line);
  tml_put_uint(&line, (unsigned long long)width);
  tml_put(&line, 'x');
  tml_put_uint(&line, (unsigned long long)height);
  tml_put(&line, 'x');
  tml_put_uint(&line, (unsigned long long)channels);
  tml_next_field(&line);
  for (i = 0; i < label_count; ++i) {
    if (i > 0) tml_put(&line, ';');
    tml_put_text(&line, labels[i]);
  }
  return tml_end(&line);
}

/* PRED,<seq>,<top label>,<latency ms>,<label>=<score>;...[,<source>]; top = first maximum. */
static inline size_t tml_format_prediction(char *buffer, size_t capacity, unsigned long seq,
                                           const char *const *labels, const float *scores,
                                           size_t label_count, float latency_ms,
                                           const char *source) {
  tml_line line;
  size_t i, top = 0;
  for (i = 1; i < label_count; ++i) {
    if (scores[i] > scores[top]) top = i;
  }
  tml_begin(&line, buffer, capacity, "PRED");
  tml_next_field(&line);
  tml_put_uint(&line, (unsigned long long)seq);
  tml_next_field(&line);
  tml_put_text(&line, label_count > 0 ? labels[top] : "");
  tml_next_field(&line);
  tml_put_fixed(&line, (double)latency_ms, TML_LATENCY_DECIMALS);
  tml_next_field(&line);
  for (i = 0; i < label_count; ++i) {
    double score = (double)scores[i];
    if (i > 0) tml_put(&line, ';');
    tml_put_text(&line, labels[i]);
    tml_put(&line, '=');
    tml_put_fixed(&line, score > 1.0 ? 1.0 : score, TML_SCORE_DECIMALS);
  }
  if (source != NULL && source[0] != '\0') {
    tml_next_field(&line);
    tml_put_text(&line, source);
  }
  return tml_end(&line);
}

/* ERR,<message> */
static inline size_t tml_format_error(char *buffer, size_t capacity, const char *message) {
  tml_line line;
  tml_begin(&line, buffer, capacity, "ERR");
  tml_next_field(&line);
  tml_put_text(&line, message);
  return tml_end(&line);
}

static inline int tml_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* True when `text` (one line, "\n" or "\r\n" optional) is a valid v1 PING. */
static inline int tml_is_ping(const char *text, size_t length) {
  const char *frame = NULL, *star = NULL;
  size_t i, frame_length;
  unsigned int expected = 0;
  while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r')) --length;
  for (i = 0; i < length; ++i) {
    if (text[i] == '$') frame = text + i; /* resynchronise on the last '$' */
  }
  if (frame == NULL) return 0;
  frame_length = length - (size_t)(frame - text);
  if (frame_length < 15 || strncmp(frame, "$TML1,PING", 10) != 0) return 0;
  if (frame[10] != '*' && frame[10] != ',') return 0;
  star = frame + frame_length - 5;
  if (*star != '*') return 0;
  for (i = 1; i <= 4; ++i) {
    int value = tml_hex_value(star[i]);
    if (value < 0) return 0;
    expected = (expected << 4) | (unsigned int)value;
  }
  return tml_crc16(frame + 1, (size_t)(star - frame - 1)) == expected;
}

/* Accumulates bytes the host sends; returns 1 when a complete PING line has arrived. */
typedef struct {
  char data[TML_INPUT_BYTES];
  size_t length;
  int overflow;
} tml_input;

static inline int tml_input_push(tml_input *input, char c) {
  int is_ping;
  if (c == '$') {
    input->length = 0;
    input->overflow = 0;
  }
  if (c != '\n') {
    if (input->length < sizeof input->data) {
      input->data[input->length++] = c;
    } else {
      input->overflow = 1;
    }
    return 0;
  }
  is_ping = !input->overflow && tml_is_ping(input->data, input->length);
  input->length = 0;
  input->overflow = 0;
  return is_ping;
}

#ifdef __cplusplus
}
#endif

#endif /* TINYMLAAS_PROTOCOL_H_ */
