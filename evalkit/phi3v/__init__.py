"""evalkit's own Phi-3-vision inference core on transformers' native Phi3 and CLIP (never trust_remote_code)."""

from evalkit.phi3v.loading import load_model
from evalkit.phi3v.modeling import Phi3VForCausalLM
from evalkit.phi3v.processing import Phi3VProcessor, build_prompt

__all__ = ["Phi3VForCausalLM", "Phi3VProcessor", "build_prompt", "load_model"]
