"""How the example sketch reaches each board's camera and TFLite-Micro port (pure data)."""

from dataclasses import dataclass, field

# Assumption: the TFLite-Micro Arduino port is "Arduino_TensorFlowLite" from
# github.com/tensorflow/tflite-micro-arduino-examples (header TensorFlowLite.h); on ESP32
# the Library Manager's "TensorFlowLite_ESP32" port.
_TFLM_ARDUINO = ("Arduino_TensorFlowLite", "TensorFlowLite.h")
_TFLM_ESP32 = ("TensorFlowLite_ESP32", "TensorFlowLite_ESP32.h")
_TFLM_ARDUINO_NOTE = (
    "Clone github.com/tensorflow/tflite-micro-arduino-examples into `~/Arduino/libraries/`; "
    "the Library Manager's 2.4.0-ALPHA release predates the API this sketch uses."
)
_TFLM_ESP32_NOTE = (
    "It is in the Arduino Library Manager: `arduino-cli lib install TensorFlowLite_ESP32`."
)
_TFLM_PORT_NOTE = (
    "It must be a port that builds for this board's architecture; TinyMLaaS assumes the name "
    "`Arduino_TensorFlowLite`."
)
_STUB_CAMERA_NOTE = (
    "**The camera functions in the example are stubs** (`camera_begin`, `camera_capture`): "
    "fill them in for your camera module; until then the sketch prints an `ERR` line."
)
_ESP_EYE_PINS = {
    "pwdn": -1,
    "reset": -1,
    "xclk": 4,
    "sda": 18,
    "scl": 23,
    "y9": 36,
    "y8": 37,
    "y7": 38,
    "y6": 39,
    "y5": 35,
    "y4": 14,
    "y3": 13,
    "y2": 34,
    "vsync": 5,
    "href": 27,
    "pclk": 25,
}
_ESP32_S3_EYE_PINS = {
    "pwdn": -1,
    "reset": -1,
    "xclk": 15,
    "sda": 4,
    "scl": 5,
    "y9": 16,
    "y8": 17,
    "y7": 18,
    "y6": 12,
    "y5": 10,
    "y4": 8,
    "y3": 9,
    "y2": 11,
    "vsync": 6,
    "href": 7,
    "pclk": 13,
}


@dataclass(frozen=True)
class Platform:
    """How the example sketch reaches one board's camera and TFLite-Micro port."""

    sketch_name: str
    code: str
    tflm: tuple[str, str]
    tflm_note: str
    camera_note: str
    pins: dict[str, int] = field(default_factory=dict)


PLATFORMS = {
    "nano33ble": Platform(
        "Nano33BLE_Camera",
        "platform_nano33ble.inc",
        _TFLM_ARDUINO,
        _TFLM_ARDUINO_NOTE,
        "Install the camera library: `arduino-cli lib install Arduino_OV767X` (OV7675 on the "
        "Tiny Machine Learning Kit shield).",
    ),
    "esp32-eye": Platform(
        "ESP_EYE_Camera",
        "platform_esp32.inc",
        _TFLM_ESP32,
        _TFLM_ESP32_NOTE,
        "The camera driver (esp32-camera) comes with the ESP32 Arduino core.",
        _ESP_EYE_PINS,
    ),
    "esp32-s3-eye": Platform(
        "ESP32_S3_EYE_Camera",
        "platform_esp32.inc",
        _TFLM_ESP32,
        _TFLM_ESP32_NOTE,
        "The camera driver (esp32-camera) comes with the ESP32 Arduino core.",
        _ESP32_S3_EYE_PINS,
    ),
}
STUB_PLATFORM = Platform(
    "Camera_Classifier", "platform_stub.inc", _TFLM_ARDUINO, _TFLM_PORT_NOTE, _STUB_CAMERA_NOTE
)
