"""What a merge job's callers may catch: refusals of an admin action, a decision the executor cannot carry out."""

from __future__ import annotations


class MergeRefused(Exception):
    """The action on a merge job is not allowed; the message says why."""


class MergeRoleRefused(MergeRefused):
    """The actor's role may not do this (retrying, pausing and resuming merges are for admins)."""


class NotRetryable(MergeRefused):
    """The job is not failed, or its group has moved on: there is nothing to retry."""


class MergePlanError(Exception):
    """The decision cannot be carried out with MergeProfiles as it stands."""


class ClaimLost(Exception):
    """Another worker took this job over (ours was presumed dead): stop without any further call."""
