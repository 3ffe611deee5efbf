"""The app with the real sentence-transformers model: start-up, a registered school's and a posted profile's
suggestions (the posted description is encoded, not stored)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from matching.demo.generator import generate_registry
from service.app import create_app
from tests.support.api import WRITE, make_settings


@pytest.mark.real_model
def test_real_model_start_up_and_suggestions(tmp_path):
    profiles = generate_registry(80, seed=4)
    settings = make_settings(tmp_path, encoder="real")
    with TestClient(create_app(settings)) as c:
        ready = c.get("/ready").json()
        assert ready["status"] == "ready" and ready["encoder"] == "all-MiniLM-L6-v2"
        r = c.post("/schools/import", json=[p.model_dump(mode="json") for p in profiles], headers=WRITE)
        assert r.status_code == 200
        uk = next(p for p in profiles if p.is_uk and p.active and p.free_capacity > 0 and p.description)
        body = c.get(f"/schools/{uk.school_id}/suggestions", params={"k": 5}).json()
        assert body["suggestions"] and all(s["school"]["country"] != "GB" for s in body["suggestions"])
        assert body["suggestions"][0]["contributions"]["themes"] != 0.0
        cache = c.app.state.registry.encoder.cached.cache
        cached = len(cache)
        posted = {**uk.model_dump(mode="json"), "school_id": "visitor",
                  "description": "Pupils build rain gauges and share weather data with a partner school"}  # fmt: skip
        r = c.post("/suggestions", json={"profile": posted, "k": 5})
        assert r.status_code == 200 and r.json()["suggestions"]
        assert len(cache) == cached  # the posted text was encoded but not stored
