"""evalkit: evaluation and benchmarking harness for the Phi-3-vision model family."""

__version__ = "0.1.0"
