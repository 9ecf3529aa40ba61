"""TinyMLaaS: a self-hostable TinyML-as-a-Service platform."""

__version__ = "0.1.0"
