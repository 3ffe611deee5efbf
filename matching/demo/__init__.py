"""Demo registries: real English schools from the register plus generated schools abroad.

>>> from matching.demo import generate_registry, demo_school
>>> profiles = generate_registry(200, seed=7)
>>> demo_school(profiles).is_uk
True
"""

from matching.demo.generator import (
    DEFAULT_UK_SHARE,
    DEMO_AS_OF,
    MAX_SCHOOLS,
    demo_school,
    description_pool,
    generate_registry,
    write_registry,
)
from matching.demo.register import (
    NameRule,
    gias_schools,
    is_higher_or_adult_education,
    name_rule,
    phase_from_name,
    uk_nation_of_postcode,
)
from matching.demo.tables import Archetype, archetypes, countries

__all__ = [
    "DEFAULT_UK_SHARE",
    "DEMO_AS_OF",
    "MAX_SCHOOLS",
    "Archetype",
    "NameRule",
    "archetypes",
    "countries",
    "demo_school",
    "description_pool",
    "generate_registry",
    "gias_schools",
    "is_higher_or_adult_education",
    "name_rule",
    "phase_from_name",
    "uk_nation_of_postcode",
    "write_registry",
]
