"""Why the engine refuses a model (pure; each error carries its HTTP status)."""

from tinymlaas.errors import TinyMLaaSError


class UnsupportedModel(TinyMLaaSError):
    """The file is not a model the engine can read: not a .tflite, wrong types, too big."""

    status_code = 422


class UnsupportedOperator(UnsupportedModel):
    """The model uses an operator (or an operator option) the engine has no kernel for."""

    def __init__(self, operator: str, reason: str = "") -> None:
        detail = f"the C engine does not support the operator {operator}"
        if reason:
            detail += f" ({reason})"
        super().__init__(detail + "; compile it with the tflm engine", operator=operator)
        self.operator = operator
