"""Moved to matches/selectors/review.py (docs/architecture.md, "Layers"). Kept until its importers (bench/review.py)
import from `matches.selectors`; then delete it."""

from matches.models import ThresholdPolicy
from matches.selectors.review import *  # noqa: F403


def bucket_q(policy: ThresholdPolicy, queue: str):
    """Now ThresholdPolicy.score_q(queue)."""
    return policy.score_q(queue)
