"""With the real all-MiniLM-L6-v2 model: themes and descriptions are matched by meaning."""

from __future__ import annotations

import re

import numpy as np
import pytest

from features.profiles import SchoolProfile, validate_profile
from features.text import MODEL_NAME, CachedEncoder
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from tests.support.factories import make_registry

pytestmark = pytest.mark.real_model

COMMON: dict[str, object] = dict(
    phase="secondary",
    age_min=11,
    age_max=18,
    languages="en",
    capacity=2,
    isa_status="intermediate",
    staff_cpd_credits=90,
    **{"want_citizenship": 0.8, "offer_digital_literacy": 0.7, "want_collaboration": 0.6, "offer_creativity": 0.5},
)


def school(school_id: str, country: str, **fields: object) -> SchoolProfile:
    return validate_profile({"school_id": school_id, "name": school_id.title(), "country": country, **COMMON, **fields})


@pytest.fixture(scope="module")
def ranker(real_encoder) -> Ranker:  # type: ignore[no-untyped-def]
    """A small registry indexed with the real model, plus the schools of these tests (all in Kenya, all allowed)."""
    schools = [
        school(
            "uk-climate",
            "GB",
            themes="sdg13_climate_action",
            description="Our pupils lead climate action in the town: a recycling scheme, a compost heap and "
            "a campaign to cut the school's carbon footprint.",
        ),
        school(
            "ke-environment",
            "KE",
            themes="environment;sdg15_life_on_land",
            description="An eco-school devoted to environmental sustainability: tree nurseries, "
            "waste reduction and protecting local wildlife.",
        ),
        school(
            "ke-maths",
            "KE",
            themes="mathematics;stem",
            description="A maths olympiad school: pupils train for national mathematics competitions "
            "and solve algebra and geometry puzzles.",
        ),
        school("uk-plastic", "GB", description="Students campaign against plastic litter on beaches and rivers."),
        school("ke-ocean", "KE", description="Children protect turtles, mangroves, coral reefs along our coast."),
        school("ke-chess", "KE", description="Learners compete in chess tournaments and programming contests."),
    ]
    encoder = CachedEncoder(real_encoder)
    index = SchoolIndex.build([*make_registry(30, seed=8), *schools], encoder, progress=False)
    return Ranker(index)


def test_real_encoder_contract(real_encoder) -> None:  # type: ignore[no-untyped-def]
    out = real_encoder.encode(["climate action", "recycling at school", "maths olympiad"])
    assert real_encoder.name == MODEL_NAME and real_encoder.dim == 384
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert out[0] @ out[1] > out[0] @ out[2]


def test_index_built_with_the_real_encoder_shares_it(ranker: Ranker, real_encoder) -> None:  # type: ignore[no-untyped-def]
    """Regression: scikit-learn's clone deep-copied the encoder, which fails on the model's lock (and would
    copy the model for every fit)."""
    themes = ranker.index.vectorizer.column_transformer_.named_transformers_["themes"]
    assert themes.encoder.encoder is real_encoder
    assert themes.embedding_dim_ == 384


def test_climate_school_prefers_environment_over_maths_olympiad(ranker: Ranker) -> None:
    r = ranker.suggest("uk-climate", k=40, diversity="none")
    ids = list(r.ids)
    assert {"ke-environment", "ke-maths"} <= set(ids)  # both allowed
    assert ids.index("ke-environment") < ids.index("ke-maths")
    env, maths = ranker.explain("uk-climate", "ke-environment"), ranker.explain("uk-climate", "ke-maths")
    assert env.allowed and maths.allowed
    # everything but the themes is equal, so the themes part makes the whole difference
    for component in env.contributions:
        if component != "themes":
            assert env.contributions[component] == pytest.approx(maths.contributions[component], abs=1e-5)
    assert env.contributions["themes"] > maths.contributions["themes"] + 0.05
    assert env.reasons.shared_themes == maths.reasons.shared_themes == ()  # no tag in common: meaning did it


def test_contributions_add_up_to_the_score(ranker: Ranker) -> None:
    for query in ("uk-climate", "uk-plastic"):
        r = ranker.suggest(query, k=10)
        assert len(r) == min(10, r.n_allowed) >= 5
        np.testing.assert_allclose(r.contributions.sum(axis=1), r.scores, atol=1e-5)
        for cid, score in zip(r.ids, r.scores, strict=True):
            assert ranker.explain(query, cid).score == pytest.approx(float(score), abs=1e-5)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_description_only_similarity_is_semantic(ranker: Ranker) -> None:
    query = ranker.index.profile("uk-plastic")
    ocean, chess = ranker.index.profile("ke-ocean"), ranker.index.profile("ke-chess")
    assert not (query.themes or ocean.themes or chess.themes)  # descriptions only
    assert not words(query.description) & words(ocean.description)  # not a single word in common
    near, far = ranker.explain("uk-plastic", "ke-ocean"), ranker.explain("uk-plastic", "ke-chess")
    assert near.contributions["themes"] > far.contributions["themes"] + 0.05
    ids = list(ranker.suggest("uk-plastic", k=40, diversity="none").ids)
    assert ids.index("ke-ocean") < ids.index("ke-chess")
