/* Measurement harness: runs tml_invoke once on an embedded input, counts the instructions it
 * takes with SysTick (under QEMU -icount shift=0 one instruction is one nanosecond of virtual
 * time), measures its stack high-water mark by painting the free RAM, and reports over
 * semihosting. Exit code: 0 done, 11 tml_invoke failed, 12 the stack overran the free RAM,
 * 13 a fault (codes QEMU itself never exits with). */
#include <stdint.h>

#include "tinymlaas_model.h"
#include "tml_fw_input.h"

#define TML_FW_PAINT 0xC5A3E1F7u
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_MAX 0x00FFFFFFu

extern uint32_t _ebss, _estack;
volatile uint32_t tml_fw_systick_wraps;
static int8_t tml_fw_output[TML_OUTPUT_SIZE];

static int tml_fw_semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void tml_fw_exit(int code)
{
    const uint32_t block[2] = {0x20026u, (uint32_t)code}; /* ADP_Stopped_ApplicationExit */
    tml_fw_semihost(0x20, block);                         /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

static void tml_fw_print(const char *text)
{
    tml_fw_semihost(0x04, text); /* SYS_WRITE0 */
}

static void tml_fw_print_hex(const char *label, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    char line[48];
    int i = 0;
    int shift;
    while (label[i] != '\0') {
        line[i] = label[i];
        i++;
    }
    for (shift = 28; shift >= 0; shift -= 4) {
        line[i++] = digits[(value >> shift) & 0xFu];
    }
    line[i++] = '\n';
    line[i] = '\0';
    tml_fw_print(line);
}

static void tml_fw_print_output(void)
{
    static const char digits[] = "0123456789abcdef";
    char line[2 * 32 + 2];
    int i = 0;
    int n;
    tml_fw_print("TML output ");
    for (n = 0; n < TML_OUTPUT_SIZE; n++) {
        uint8_t byte = (uint8_t)tml_fw_output[n];
        line[i++] = digits[byte >> 4];
        line[i++] = digits[byte & 0xFu];
        if (i == 2 * 32 || n == TML_OUTPUT_SIZE - 1) {
            line[i] = '\0';
            tml_fw_print(line);
            i = 0;
        }
    }
    tml_fw_print("\n");
}

/* SysTick ticks since start, extended past 24 bits by the wrap count of the handler. */
static uint32_t tml_fw_ticks_low, tml_fw_ticks_high;
static void tml_fw_now(void)
{
    uint32_t wraps;
    uint32_t value;
    do {
        wraps = tml_fw_systick_wraps;
        value = SYST_CVR;
    } while (wraps != tml_fw_systick_wraps);
    tml_fw_ticks_high = wraps >> 8;
    tml_fw_ticks_low = (wraps << 24) + (SYST_MAX - value);
}

static uintptr_t tml_fw_sp(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

int main(void)
{
    uint32_t *word;
    uint32_t *lowest;
    uint32_t start_low, start_high, empty_low;
    uintptr_t sp = tml_fw_sp();
    int status;

    /* Paint the free RAM between .bss and this frame: the loop itself needs no stack. */
    for (word = &_ebss; (uintptr_t)word < sp; word++) {
        *(volatile uint32_t *)word = TML_FW_PAINT;
    }

    SYST_RVR = SYST_MAX;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* enabled, interrupt on wrap, processor clock */
    while (SYST_CVR == 0u) {
        /* until the first reload */
    }

    tml_fw_now();
    start_low = tml_fw_ticks_low;
    tml_fw_now();
    empty_low = tml_fw_ticks_low - start_low;

    tml_fw_now();
    start_low = tml_fw_ticks_low;
    start_high = tml_fw_ticks_high;
    status = tml_invoke(tml_fw_input, tml_fw_output);
    tml_fw_now();
    SYST_CSR = 0;

    for (lowest = &_ebss; *lowest == TML_FW_PAINT && lowest < &_estack; lowest++) {
    }

    tml_fw_print_output();
    tml_fw_print_hex("TML ticks_high ", tml_fw_ticks_high - start_high - (tml_fw_ticks_low < start_low));
    tml_fw_print_hex("TML ticks_low ", tml_fw_ticks_low - start_low);
    tml_fw_print_hex("TML ticks_empty ", empty_low);
    tml_fw_print_hex("TML stack ", (uint32_t)(sp - (uintptr_t)lowest));
    tml_fw_print_hex("TML stack_total ", (uint32_t)((uintptr_t)&_estack - (uintptr_t)lowest));
    tml_fw_print_hex("TML free_ram ", (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_ebss));
    tml_fw_print_hex("TML status ", (uint32_t)status);
    if (status != 0) {
        return 11;
    }
    return lowest == &_ebss ? 12 : 0;
}
