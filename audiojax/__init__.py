"""audiojax: neural audio signal processing in JAX/Flax."""

from audiojax.audio import AudioError, load, save

__version__ = "0.1.0"
__all__ = ["AudioError", "load", "save"]
