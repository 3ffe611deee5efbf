"""What the tests share, in one place (test modules import from here, never from each other).

- ``factories``: random but valid profiles, registries and batch cohorts.
- ``oracle``: the hard constraints restated pair by pair in plain Python (the brute-force oracle).
- ``polling``: ``eventually()``, the one poller for anything that happens in the background.
- ``servers``: a real ``python -m service serve`` process on a free port.
- ``api``: settings, seeding and database dumps for the service's API tests.
- ``web``: names of the browser tests (Chromium, axe-core, the seeded server).
- ``notebooks``: runs a notebook of ``notebooks/`` with nbclient.
- ``toy_rule``: a toy hard rule registered in one place, seen by every consumer of the rule registry.
"""

from tests.support.polling import eventually

__all__ = ["eventually"]
