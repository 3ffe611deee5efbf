"""The real model's transformer runs as a TorchScript trace (``features.traced_model``): bitwise the eager
model's numbers, and a clear error for what the trace does not do."""

from __future__ import annotations

import random

import numpy as np
import pytest

from features.errors import EncoderError
from features.text import SentenceTransformerEncoder
from features.traced_model import TracedForward

pytestmark = pytest.mark.real_model

WORDS = ("climate", "school", "partner", "pupils", "letters", "lessons", "exhibition", "science", "music", "art")


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) for _ in range(n)]


@pytest.fixture(scope="module")
def eager() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(trace=False)


def test_the_traced_model_gives_the_eager_models_numbers(real_encoder, eager) -> None:
    assert isinstance(real_encoder.model[0].auto_model.forward, TracedForward)
    assert not isinstance(eager.model[0].auto_model.forward, TracedForward)
    batch = [*texts(150, 1), "word " * 400, "Ünïcödé: école, Schüler, 学校", ""]  # padding, truncation, odd text
    np.testing.assert_array_equal(real_encoder.encode(batch), eager.encode(batch))
    for text in texts(10, 2):  # one at a time, as a write encodes
        np.testing.assert_array_equal(real_encoder.encode([text]), eager.encode([text]))


def test_the_traced_forward_names_what_it_does_not_do(real_encoder) -> None:
    model = real_encoder.model
    features = model[0].preprocess(["two schools", "a partnership"])
    inputs = {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    out = model[0].auto_model(**inputs, return_dict=True)
    assert tuple(out.last_hidden_state.shape[:2]) == tuple(inputs["input_ids"].shape)
    with pytest.raises(EncoderError, match="not supported: output_hidden_states"):
        model[0].auto_model(**inputs, output_hidden_states=True)
    with pytest.raises(EncoderError, match="missing: attention_mask"):
        model[0].auto_model(input_ids=inputs["input_ids"], token_type_ids=inputs["token_type_ids"])
