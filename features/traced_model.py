"""The text model's transformer as a TorchScript trace: the same numbers, without Python between its operators.

Run eagerly, a forward pass of all-MiniLM-L6-v2 is ~150 PyTorch operators called from Python, each releasing
the GIL and taking it back. In a service worker another thread (the event loop answering suggestions) holds
the GIL most of the time, so every take-back waits for the interpreter's switch interval: one encode of a
sentence took ~0.7 s and three times its CPU time beside a busy Python thread. A traced forward pass runs its
operators in C++ after releasing the GIL once. The trace calls the very same operators on the very same
weights, so its output is bitwise that of the eager model (checked here when traced, and by the tests).

PyTorch 2.13 deprecates ``torch.jit.trace`` in favour of ``torch.compile`` and ``torch.export``; neither does
this job: ``torch.compile`` fuses operators (other rounding, so other stored embeddings) and needs a C++
compiler at run time, and an exported program's module calls its operators from Python again.
``SentenceTransformerEncoder(trace=False)`` runs the model eagerly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from features.errors import EncoderError

# Probe texts of different lengths: a batch with padding, checked against the eager model when tracing.
_PROBE = ("Partner schools", "Our pupils write letters to a partner school abroad and share science lessons online.")


class TracedForward:
    """Stands in for a Hugging Face model's ``forward`` (what sentence-transformers calls): runs the trace and
    returns the model's output type holding ``last_hidden_state``."""

    def __init__(self, traced: Callable[..., Any], inputs: tuple[str, ...], output_type: type) -> None:
        self.traced = traced
        self.inputs = inputs  # the tokenizer's tensors, in the trace's argument order
        self.output_type = output_type

    def __call__(self, **kwargs: Any) -> Any:
        missing = [name for name in self.inputs if kwargs.get(name) is None]
        known = (*self.inputs, "return_dict")  # sentence-transformers asks for a dict: the output type is one
        other = sorted(k for k, v in kwargs.items() if k not in known and v not in (None, False))
        if missing or other:
            raise EncoderError(
                f"the traced text model takes {', '.join(self.inputs)}; "
                f"missing: {', '.join(missing) or 'none'}; not supported: {', '.join(other) or 'none'}"
            )
        return self.output_type(last_hidden_state=self.traced(*(kwargs[name] for name in self.inputs)))


def trace_transformer(model: Any) -> None:
    """Replace the forward pass of ``model``'s transformer (a loaded ``SentenceTransformer`` whose first module
    wraps a Hugging Face model) by its trace, after checking that both give the same numbers."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput
    from transformers.utils import logging as hf_logging

    hf_model = model[0].auto_model
    features = model[0].preprocess(list(_PROBE))
    inputs = tuple(name for name in ("input_ids", "attention_mask", "token_type_ids") if name in features)
    example = tuple(features[name] for name in inputs)

    class Body(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = hf_model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(inputs, tensors, strict=True)), return_dict=False)[0]

    body = Body().eval()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # tracing reads every attribute of the model: its config notes are noise
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # the tracer warns where the model branches on shapes in Python (for an encoder-only model those
            # branches are the same for every input: checked on the probe batch below), the attributes it reads
            # include deprecated ones, and it is itself deprecated (see the module's docstring)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.trace(body, example, check_trace=False)
            same = torch.equal(traced(*example), body(*example))
    finally:
        hf_logging.set_verbosity(verbosity)
    if not same:
        raise EncoderError("the traced text model gives other numbers than the eager one: load it with trace=False")
    hf_model.forward = TracedForward(traced, inputs, BaseModelOutput)
