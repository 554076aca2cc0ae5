"""Moved to matches/selectors/admin.py (docs/architecture.md, "Layers"). Kept until its importers (services/bulk.py,
services/qa.py, tests/services) import from `matches.selectors`; then delete it."""

from matches.selectors.admin import *  # noqa: F403
