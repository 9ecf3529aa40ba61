/* Bare-metal startup for the measurement firmware: the vector table, the reset handler
 * (copies .data, zeroes .bss, enables the FPU on hard-float cores) and the SysTick handler
 * that extends the 24-bit SysTick counter the harness reads. */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern volatile uint32_t tml_fw_systick_wraps;

int main(void);
void tml_fw_exit(int code);

void Reset_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);

__attribute__((section(".vectors"), used)) static const void *const tml_fw_vectors[16] = {
    &_estack,
    (const void *)Reset_Handler,
    (const void *)Fault_Handler, /* NMI */
    (const void *)Fault_Handler, /* HardFault */
    (const void *)Fault_Handler, /* MemManage */
    (const void *)Fault_Handler, /* BusFault */
    (const void *)Fault_Handler, /* UsageFault */
    (const void *)Fault_Handler, /* SecureFault (v8-M) */
    0,
    0,
    0,
    (const void *)Fault_Handler, /* SVCall */
    (const void *)Fault_Handler, /* DebugMonitor */
    0,
    (const void *)Fault_Handler, /* PendSV */
    (const void *)SysTick_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; dst++) {
        *dst = 0;
    }
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU), before any floating-point instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    tml_fw_exit(main());
}

void Fault_Handler(void)
{
    tml_fw_exit(13);
}

void SysTick_Handler(void)
{
    tml_fw_systick_wraps++;
}
