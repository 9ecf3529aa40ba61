"""The C inference engine: int8 .tflite models compiled to dependency-free C99.

`codegen.generate(model_bytes)` writes the C sources (pure Python); `host.predict` builds them
with the host compiler and runs them through ctypes (worker side); `baremetal.measure` builds
them for a board's Cortex-M core and runs one inference under QEMU (flash, RAM, stack,
instructions).
"""
