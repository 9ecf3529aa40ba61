/*
 * TinyMLaaS serial protocol, version 2: formatting device lines, recognising PING, and
 * receiving binary TENSOR frames (version 2: a host sends the model's int8 input and the board
 * answers TRES with its raw outputs and latency). Lines stay framed "$TML1" as in version 1;
 * the HELLO's fifth field says the board speaks version 2.
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
/* The version this board speaks, announced in its HELLO. */
#define TML_PROTOCOL_LATEST 2
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

/* One more byte into a running CRC-16/CCITT-FALSE (start from 0xFFFF). */
static inline uint16_t tml_crc16_update(uint16_t crc, uint8_t byte) {
  int bit;
  crc ^= (uint16_t)((uint16_t)byte << 8);
  for (bit = 0; bit < 8; ++bit) {
    crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
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

/* HELLO,<model id>,<board>,<W>x<H>x<C>,<label>;<label>;...,<protocol version> */
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
  tml_next_field(&line);
  tml_put_uint(&line, TML_PROTOCOL_LATEST);
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

/* TRES,<seq>,<latency us>,<raw output>;<raw output>;... (the answer to a TENSOR frame) */
static inline size_t tml_format_tensor_result(char *buffer, size_t capacity, unsigned long seq,
                                              unsigned long latency_us, const int8_t *outputs,
                                              size_t count) {
  tml_line line;
  size_t i;
  tml_begin(&line, buffer, capacity, "TRES");
  tml_next_field(&line);
  tml_put_uint(&line, (unsigned long long)seq);
  tml_next_field(&line);
  tml_put_uint(&line, (unsigned long long)latency_us);
  tml_next_field(&line);
  for (i = 0; i < count; ++i) {
    if (i > 0) tml_put(&line, ';');
    if (outputs[i] < 0) tml_put(&line, '-');
    tml_put_uint(&line, (unsigned long long)(outputs[i] < 0 ? -(int)outputs[i] : outputs[i]));
  }
  return tml_end(&line);
}

/* TERR,<seq>,<message> (a TENSOR frame that was not run) */
static inline size_t tml_format_tensor_error(char *buffer, size_t capacity, unsigned long seq,
                                             const char *message) {
  tml_line line;
  tml_begin(&line, buffer, capacity, "TERR");
  tml_next_field(&line);
  tml_put_uint(&line, (unsigned long long)seq);
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

/* What a host line asks for (TML_EVENT_*), and where frames and lines meet. */
enum {
  TML_EVENT_NONE = 0,
  TML_EVENT_PING,
  TML_EVENT_TENSOR,
  TML_EVENT_BAD_FRAME,
  TML_EVENT_CAPTURE,
  TML_EVENT_LAST
};

/* The checksummed body of one line ("TML1,..." between '$' and '*'), or NULL. */
static inline const char *tml_line_body(const char *text, size_t length, size_t *body_length) {
  const char *frame = NULL, *star = NULL;
  size_t i, frame_length;
  unsigned int expected = 0;
  while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r')) --length;
  for (i = 0; i < length; ++i) {
    if (text[i] == '$') frame = text + i; /* resynchronise on the last '$' */
  }
  if (frame == NULL) return NULL;
  frame_length = length - (size_t)(frame - text);
  if (frame_length < 15 || strncmp(frame, "$TML1,", 6) != 0) return NULL;
  star = frame + frame_length - 5;
  if (*star != '*') return NULL;
  for (i = 1; i <= 4; ++i) {
    int value = tml_hex_value(star[i]);
    if (value < 0) return NULL;
    expected = (expected << 4) | (unsigned int)value;
  }
  *body_length = (size_t)(star - frame - 1);
  return tml_crc16(frame + 1, *body_length) == expected ? frame + 1 : NULL;
}

/* True when `text` (one line, "\n" or "\r\n" optional) is a valid PING. */
static inline int tml_is_ping(const char *text, size_t length) {
  size_t count = 0;
  const char *body = tml_line_body(text, length, &count);
  return body != NULL && strncmp(body, "TML1,PING", 9) == 0 && (count == 9 || body[9] == ',');
}

static inline int tml_parse_seq(const char *digits, size_t count, unsigned long *seq) {
  unsigned long value = 0;
  size_t i;
  if (count == 0 || count > 10) return 0;
  for (i = 0; i < count; ++i) {
    if (digits[i] < '0' || digits[i] > '9') return 0;
    value = value * 10u + (unsigned long)(digits[i] - '0');
  }
  *seq = value;
  return 1;
}

/* The host's command in one line: TML_EVENT_PING, _CAPTURE or _LAST (with its seq), or NONE. */
static inline int tml_command(const char *text, size_t length, unsigned long *seq) {
  size_t count = 0;
  const char *body = tml_line_body(text, length, &count);
  if (body == NULL) return TML_EVENT_NONE;
  if (tml_is_ping(text, length)) return TML_EVENT_PING;
  if (count > 13 && strncmp(body, "TML1,CAPTURE,", 13) == 0 &&
      tml_parse_seq(body + 13, count - 13, seq)) {
    return TML_EVENT_CAPTURE;
  }
  if (count > 10 && strncmp(body, "TML1,LAST,", 10) == 0 &&
      tml_parse_seq(body + 10, count - 10, seq)) {
    return TML_EVENT_LAST;
  }
  return TML_EVENT_NONE;
}

/* Accumulates bytes the host sends; returns a TML_EVENT_* when a command line is complete
 * (TML_EVENT_PING is 1: a version-1 caller may treat the result as "a PING arrived"). */
typedef struct {
  char data[TML_INPUT_BYTES];
  size_t length;
  int overflow;
  unsigned long seq; /* of the latest CAPTURE or LAST */
} tml_input;

static inline int tml_input_push(tml_input *input, char c) {
  int command;
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
    return TML_EVENT_NONE;
  }
  command = input->overflow ? TML_EVENT_NONE : tml_command(input->data, input->length, &input->seq);
  input->length = 0;
  input->overflow = 0;
  return command;
}

/*
 * Binary frames (version 2): A5 5A | kind | seq (u32 LE) | length (u32 LE) | CRC-16 of
 * kind..length (LE) | payload | CRC-16 of the payload (LE). The payload goes straight into the
 * caller's buffer (the model's input tensor): no copy, no extra RAM. A header whose checksum
 * fails is dropped and the receiver hunts for the next sync bytes; a length above the buffer,
 * or a payload whose checksum fails, is reported (TML_EVENT_BAD_FRAME, with `seq` and `error`).
 */
#define TML_SYNC_0 0xA5
#define TML_SYNC_1 0x5A
#define TML_FRAME_TENSOR 0x54
#define TML_FRAME_CAMERA 0x46
#define TML_GRAY8 1
#define TML_RGB565 2
#define TML_RGB888 3
#define TML_FRAME_HEADER_BYTES 11 /* after the two sync bytes: kind, seq, length, CRC */

enum { TML_RX_IDLE = 0, TML_RX_SYNC, TML_RX_HEADER, TML_RX_PAYLOAD, TML_RX_CHECKSUM };

typedef struct {
  tml_input line;
  uint8_t *payload;
  size_t capacity;
  int state;
  uint8_t header[TML_FRAME_HEADER_BYTES];
  size_t count; /* header, payload or checksum bytes received so far */
  uint8_t kind;
  unsigned long seq;
  unsigned long length;
  uint16_t crc;
  uint8_t checksum[2];
  const char *error;
} tml_receiver;

static inline void tml_receiver_begin(tml_receiver *rx, uint8_t *payload, size_t capacity) {
  memset(rx, 0, sizeof *rx);
  rx->payload = payload;
  rx->capacity = capacity;
}

/* Whether part of a frame has arrived (a caller gives it up after a silence). */
static inline int tml_receiver_busy(const tml_receiver *rx) { return rx->state != TML_RX_IDLE; }

static inline void tml_receiver_reset(tml_receiver *rx) {
  rx->state = TML_RX_IDLE;
  rx->count = 0;
}

static inline unsigned long tml_le32(const uint8_t *bytes) {
  return (unsigned long)bytes[0] | ((unsigned long)bytes[1] << 8) |
         ((unsigned long)bytes[2] << 16) | ((unsigned long)bytes[3] << 24);
}

/* Not a frame after all: the sync bytes were noise. A real frame may start inside the bytes
 * taken as its header, so hunt for the next sync bytes there first. */
static inline void tml_receiver_rehunt(tml_receiver *rx) {
  size_t i, kept;
  for (i = 0; i < TML_FRAME_HEADER_BYTES; ++i) {
    if (rx->header[i] != TML_SYNC_0) continue;
    if (i + 1 == TML_FRAME_HEADER_BYTES) {
      rx->state = TML_RX_SYNC;
      return;
    }
    if (rx->header[i + 1] == TML_SYNC_1) {
      kept = TML_FRAME_HEADER_BYTES - (i + 2);
      memmove(rx->header, rx->header + i + 2, kept);
      rx->count = kept;
      rx->state = TML_RX_HEADER;
      return;
    }
  }
  tml_receiver_reset(rx);
}

static inline int tml_receiver_header(tml_receiver *rx) {
  uint16_t crc = 0xFFFF;
  size_t i;
  for (i = 0; i < 9; ++i) crc = tml_crc16_update(crc, rx->header[i]);
  if (crc != (uint16_t)(rx->header[9] | (rx->header[10] << 8)) ||
      rx->header[0] != TML_FRAME_TENSOR) {
    tml_receiver_rehunt(rx);
    return TML_EVENT_NONE;
  }
  rx->kind = rx->header[0];
  rx->seq = tml_le32(rx->header + 1);
  rx->length = tml_le32(rx->header + 5);
  if (rx->length > rx->capacity) {
    rx->error = "frame exceeds the input tensor";
    tml_receiver_reset(rx);
    return TML_EVENT_BAD_FRAME;
  }
  rx->crc = 0xFFFF;
  rx->count = 0;
  rx->state = rx->length > 0 ? TML_RX_PAYLOAD : TML_RX_CHECKSUM;
  return TML_EVENT_NONE;
}

/* Feed one received byte; returns what it completed (TML_EVENT_*; `seq` names the frame or
 * command). */
static inline int tml_receiver_push(tml_receiver *rx, uint8_t byte) {
  int command;
  switch (rx->state) {
    case TML_RX_IDLE:
      if (byte == TML_SYNC_0) {
        rx->state = TML_RX_SYNC;
        return TML_EVENT_NONE;
      }
      command = tml_input_push(&rx->line, (char)byte);
      if (command == TML_EVENT_CAPTURE || command == TML_EVENT_LAST) rx->seq = rx->line.seq;
      return command;
    case TML_RX_SYNC:
      rx->count = 0;
      if (byte == TML_SYNC_1) {
        rx->state = TML_RX_HEADER;
        return TML_EVENT_NONE;
      }
      rx->state = TML_RX_IDLE; /* a lone A5 was noise: the byte starts afresh */
      return tml_receiver_push(rx, byte);
    case TML_RX_HEADER:
      rx->header[rx->count++] = byte;
      return rx->count == TML_FRAME_HEADER_BYTES ? tml_receiver_header(rx) : TML_EVENT_NONE;
    case TML_RX_PAYLOAD:
      rx->payload[rx->count++] = byte;
      rx->crc = tml_crc16_update(rx->crc, byte);
      if (rx->count == rx->length) {
        rx->state = TML_RX_CHECKSUM;
        rx->count = 0;
      }
      return TML_EVENT_NONE;
    default:
      rx->checksum[rx->count++] = byte;
      if (rx->count < 2) return TML_EVENT_NONE;
      tml_receiver_reset(rx);
      if (rx->crc != (uint16_t)(rx->checksum[0] | (rx->checksum[1] << 8))) {
        rx->error = "payload checksum mismatch";
        return TML_EVENT_BAD_FRAME;
      }
      return TML_EVENT_TENSOR;
  }
}

/* The 13 bytes that start a frame of `length` payload bytes (the CRC of the payload follows
 * it, two bytes little-endian, after the payload). */
static inline void tml_frame_header(uint8_t *out, uint8_t kind, unsigned long seq,
                                    unsigned long length) {
  uint16_t crc = 0xFFFF;
  size_t i;
  out[0] = TML_SYNC_0;
  out[1] = TML_SYNC_1;
  out[2] = kind;
  for (i = 0; i < 4; ++i) {
    out[3 + i] = (uint8_t)(seq >> (8 * i));
    out[7 + i] = (uint8_t)(length >> (8 * i));
  }
  for (i = 2; i < 11; ++i) crc = tml_crc16_update(crc, out[i]);
  out[11] = (uint8_t)(crc & 0xFF);
  out[12] = (uint8_t)(crc >> 8);
}

#ifdef __cplusplus
}
#endif

#endif /* TINYMLAAS_PROTOCOL_H_ */
