"""The errors matches/aws.py raises, what it reads of a domain, and the plain facts of its calls (no boto3 here:
aws.py re-exports all of it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Protocol


class MatchdeskAwsError(Exception):
    """An AWS call failed. `retryable` says whether the same call may simply be tried again later."""

    retryable = False
    code = "Error"

    def __init__(self, message: str, *, code: str | None = None, aws_message: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.aws_message = aws_message
        self.status = status

    def __str__(self) -> str:
        return self.message


class AwsThrottled(MatchdeskAwsError):
    retryable = True
    code = "ThrottlingException"


class AwsServerError(MatchdeskAwsError):
    retryable = True
    code = "InternalServerException"


class AwsUnavailable(MatchdeskAwsError):
    """No answer: connection refused, connect or read timeout. For a merge the outcome is unknown."""

    retryable = True
    code = "Unavailable"


class AwsBadRequest(MatchdeskAwsError):
    code = "BadRequestException"


class AwsAccessDenied(MatchdeskAwsError):
    code = "AccessDeniedException"


class AwsNotFound(MatchdeskAwsError):
    code = "ResourceNotFoundException"


class AwsConfigError(MatchdeskAwsError):
    code = "Configuration"


class DomainLike(Protocol):
    """What this module reads of a domain (matches.models.Domain has it; tests may pass a stand-in)."""

    @property
    def name(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def role_arn(self) -> str | None: ...


@dataclass(frozen=True)
class Target:
    """What identifies a client: the parts of a Domain that change how we reach AWS."""

    name: str
    region: str
    endpoint_url: str = ""
    role_arn: str = ""

    @classmethod
    def of(cls, domain: DomainLike) -> Target:
        return cls(domain.name, domain.region, domain.endpoint_url or "", domain.role_arn or "")


# How AWS's error codes map to ours, and the advice each carries (aws.py's translation reads these).
_CODE_TO_ERROR: dict[str, type[MatchdeskAwsError]] = {
    "ThrottlingException": AwsThrottled,
    "TooManyRequestsException": AwsThrottled,
    "InternalServerException": AwsServerError,
    "ServiceUnavailableException": AwsServerError,
    "BadRequestException": AwsBadRequest,
    "ValidationException": AwsBadRequest,
    "AccessDeniedException": AwsAccessDenied,
    "UnrecognizedClientException": AwsAccessDenied,
    "InvalidSignatureException": AwsAccessDenied,
    "ExpiredTokenException": AwsAccessDenied,
    "ResourceNotFoundException": AwsNotFound,
    # S3 (the export): its own codes.
    "SlowDown": AwsThrottled,
    "InternalError": AwsServerError,
    "ServiceUnavailable": AwsServerError,
    "AccessDenied": AwsAccessDenied,
    "NoSuchBucket": AwsNotFound,
    "NoSuchKey": AwsNotFound,
}

_ADVICE = {
    AwsThrottled: "AWS is throttling requests; Matchdesk backs off and tries again.",
    AwsServerError: "AWS had an internal error; Matchdesk tries again later.",
    AwsBadRequest: "AWS refused the request as invalid.",
    AwsAccessDenied: "Check that the credentials or the domain's role allow this Customer Profiles action "
    "on this domain and region.",
    AwsNotFound: "Check the domain name and region: AWS does not know this domain (or the profile is gone).",
}
_S3_ADVICE = {
    AwsThrottled: "S3 is slowing requests down; Matchdesk backs off and tries again.",
    AwsServerError: "S3 had an internal error; Matchdesk tries again later.",
    AwsAccessDenied: "Check that the credentials or the domain's role allow s3:ListBucket and s3:GetObject on the "
    "export bucket (the job's ExportingLocation).",
    AwsNotFound: "Check the domain's ExportingConfig: the bucket or object named by the job's ExportingLocation "
    "does not exist (or the export expired).",
}


# Plain facts of the calls (no boto3): defaults, limits, and reading a job's export location.

# Consolidation and conflict resolution AWS's preview requires when the domain has no auto-merging settings of its
# own: one profile per email address, the newest value winning (the preview's counts depend on the score, not these).
DEFAULT_CONSOLIDATION: dict[str, Any] = {"MatchingAttributesList": [["EmailAddress"]]}
DEFAULT_CONFLICT_RESOLUTION: dict[str, Any] = {"ConflictResolvingModel": "RECENCY"}


def s3_location(location: dict[str, Any] | None) -> tuple[str, str] | None:
    """(bucket, key prefix) of a job's ExportingLocation, or None when the job reports none."""
    s3 = (location or {}).get("S3Exporting") or {}
    bucket = s3.get("S3BucketName")
    if not isinstance(bucket, str) or not bucket:
        return None
    key = s3.get("S3KeyName")
    return bucket, key if isinstance(key, str) else ""


# SearchProfiles' predefined keys a steward searches by (KeyName in botocore's model documents these among others).
SEARCH_KEYS: Final = ("_email", "_phone", "_fullName", "_account", "_profileId")
SEARCH_MAX_KEYS = 5  # KeyName plus at most 4 AdditionalSearchKeys
SEARCH_MAX_RESULTS = 100  # maxSize100
VALUE_MAX = 255  # string1To255


def _keep_raw_matches(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """Hand GetMatches items to the caller exactly as received. botocore would coerce them to the model first
    (a boolean score becomes 1.0, a string of ids a list of characters) or fail the whole page on one bad item;
    the pull validates and quarantines each item itself."""
    if response_dict.get("status_code") != 200:
        return
    try:
        body = json.loads(response_dict.get("body") or b"{}")
    except ValueError:
        return  # botocore reports the unreadable page
    if isinstance(body, dict) and "Matches" in body:
        customized_response_dict["Matches"] = body.pop("Matches")
        response_dict["body"] = json.dumps(body).encode()
