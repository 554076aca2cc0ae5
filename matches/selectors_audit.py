"""Moved to matches/selectors/audit.py, timelines.py and reports.py (docs/architecture.md, "Layers"). Kept until its
importers (services/erasure.py, services/audit_history.py) import from `matches.selectors`; then delete it."""

from matches.selectors.audit import *  # noqa: F403
from matches.selectors.reports import *  # noqa: F403
from matches.selectors.timelines import *  # noqa: F403
