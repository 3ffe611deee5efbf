"""The partnership request's state machine (issue 15): pure, no I/O.

A request starts ``open``; the receiver ``accept``s or ``decline``s it, the sender ``withdraw``s it, or the
clock ``expire``s it. Every other state is final: nothing leaves it.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

State = Literal["open", "accepted", "declined", "withdrawn", "expired"]
Action = Literal["accept", "decline", "withdraw", "expire"]
DeclineReason = Literal["not_right_ages", "no_places", "language", "other"]

STATES: Final[tuple[str, ...]] = get_args(State)
ACTIONS: Final[tuple[str, ...]] = get_args(Action)
DECLINE_REASONS: Final[tuple[str, ...]] = get_args(DeclineReason)
FINAL: Final[frozenset[str]] = frozenset({"accepted", "declined", "withdrawn", "expired"})
MOVES: Final[dict[tuple[str, str], str]] = {
    ("open", "accept"): "accepted",
    ("open", "decline"): "declined",
    ("open", "withdraw"): "withdrawn",
    ("open", "expire"): "expired",
}
ACTOR: Final[dict[str, str]] = {"accept": "receiver", "decline": "receiver", "withdraw": "sender", "expire": "clock"}


class IllegalMove(ValueError):
    """The action is not allowed from the request's state (the service answers 409)."""

    def __init__(self, state: str, action: str) -> None:
        allowed = sorted(a for (s, a) in MOVES if s == state)
        tail = f"allowed from {state!r}: {', '.join(allowed)}" if allowed else f"{state!r} is final: nothing leaves it"
        super().__init__(f"cannot {action} a request that is {state}; {tail}")
        self.state = state
        self.action = action


def next_state(state: str, action: str) -> str:
    """The state after ``action``; raises ``IllegalMove`` when it is not allowed, ``ValueError`` for unknown names."""
    if state not in STATES:
        raise ValueError(f"state {state!r} is unknown; states: {', '.join(STATES)}")
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is unknown; actions: {', '.join(ACTIONS)}")
    try:
        return MOVES[(state, action)]
    except KeyError:
        raise IllegalMove(state, action) from None


def is_final(state: str) -> bool:
    """Whether nothing can leave ``state``."""
    return state in FINAL
