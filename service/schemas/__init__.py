"""Request and response bodies, one module per resource; every model is re-exported here.

``*Public`` models never carry ``contact_email``; only ``SchoolPrivate`` does. Request models check
shapes and ranges; the meaning is checked by ``features.profiles.validate_profile``.
"""

from __future__ import annotations

from service.presenter import country_label
from service.schemas.audit import AuditEntry, AuditList
from service.schemas.batch import BatchCreate, BatchJobList, BatchJobPublic, BatchOptions, BatchResult
from service.schemas.common import ErrorBody, FieldProblem, PageOf, Problem, ProblemTypeOut, Strict
from service.schemas.feedback import Decision, FeedbackCreate, FeedbackList, FeedbackPublic
from service.schemas.health import Health, Readiness, Vocabulary
from service.schemas.partnerships import PartnershipCreate, PartnershipList, PartnershipPublic
from service.schemas.schools import (
    SCHOOL_EXAMPLE,
    ImportResult,
    SchoolCreate,
    SchoolList,
    SchoolPrivate,
    SchoolPublic,
    SchoolUpdate,
    SchoolWrite,
)
from service.schemas.suggestions import (
    Blocker,
    CandidateSummary,
    Diversity,
    PairExplanationOut,
    ProfileSuggestRequest,
    ReasonsOut,
    RuleCount,
    Suggestion,
    SuggestionList,
    SuggestOptions,
)

__all__ = [
    "SCHOOL_EXAMPLE",
    "AuditEntry",
    "AuditList",
    "BatchCreate",
    "BatchJobList",
    "BatchJobPublic",
    "BatchOptions",
    "BatchResult",
    "Blocker",
    "CandidateSummary",
    "Decision",
    "Diversity",
    "ErrorBody",
    "FeedbackCreate",
    "FeedbackList",
    "FeedbackPublic",
    "FieldProblem",
    "Health",
    "ImportResult",
    "PageOf",
    "PairExplanationOut",
    "PartnershipCreate",
    "PartnershipList",
    "PartnershipPublic",
    "Problem",
    "ProblemTypeOut",
    "ProfileSuggestRequest",
    "Readiness",
    "ReasonsOut",
    "RuleCount",
    "SchoolCreate",
    "SchoolList",
    "SchoolPrivate",
    "SchoolPublic",
    "SchoolUpdate",
    "SchoolWrite",
    "Strict",
    "SuggestOptions",
    "Suggestion",
    "SuggestionList",
    "Vocabulary",
    "country_label",
]
