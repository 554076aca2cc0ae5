"""The only module that talks to AWS (Customer Profiles and the S3 export). Clients per domain with explicit timeouts;
botocore's own retries are off (RETRIES: "standard" mode, one attempt; why not "adaptive": docs/architecture.md,
"AWS facts the code relies on") because each caller retries deliberately: pulls retry throttling and 5xx with
backoff, merges never blind-retry. botocore errors become MatchdeskAwsError subclasses an admin can act on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from django.conf import settings

from matches.aws_errors import (  # noqa: F401 (callers import the error types and facts from here)
    _ADVICE,
    _CODE_TO_ERROR,
    _S3_ADVICE,
    DEFAULT_CONFLICT_RESOLUTION,
    DEFAULT_CONSOLIDATION,
    SEARCH_KEYS,
    SEARCH_MAX_KEYS,
    SEARCH_MAX_RESULTS,
    VALUE_MAX,
    AwsAccessDenied,
    AwsBadRequest,
    AwsConfigError,
    AwsNotFound,
    AwsServerError,
    AwsThrottled,
    AwsUnavailable,
    DomainLike,
    MatchdeskAwsError,
    Target,
    _keep_raw_matches,
    s3_location,
)
from matches.observability import counters

if TYPE_CHECKING:
    from botocore.config import _RetryDict
    from mypy_boto3_customer_profiles import CustomerProfilesClient

SERVICE: Final = "customer-profiles"
RETRIES: Final[_RetryDict] = {"mode": "standard", "total_max_attempts": 1}
MAX_IDS_PER_CALL = 20  # BatchGetProfileIdList and ProfileIdToBeMergedList


_client_lock = threading.Lock()


def _config(region: str, **extra: Any) -> Config:
    """Explicit timeouts, botocore's retries off (RETRIES), Matchdesk named in the user agent."""
    timeouts = settings.MATCHDESK
    return Config(
        region_name=region,
        connect_timeout=timeouts["AWS_CONNECT_TIMEOUT"],
        read_timeout=timeouts["AWS_READ_TIMEOUT"],
        retries=RETRIES,
        user_agent_extra="matchdesk",
        **extra,
    )


@lru_cache(maxsize=64)
def _client(region: str, endpoint_url: str, role_arn: str) -> CustomerProfilesClient:
    config = _config(region)
    with _client_lock:  # boto3 sessions are not thread-safe to create; clients are safe to share
        session = boto3.Session(botocore_session=_botocore_session(role_arn))
        client = session.client(SERVICE, config=config, endpoint_url=endpoint_url or None)
        client.meta.events.register(f"before-parse.{SERVICE}.GetMatches", _keep_raw_matches)
        return client


def _botocore_session(role_arn: str) -> botocore.session.Session:
    session = botocore.session.Session()
    if role_arn:
        # boto3's own assume-role machinery: credentials refresh themselves before they expire.
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=session.create_client,
            source_credentials=session.get_credentials(),
            role_arn=role_arn,
            extra_args={"RoleSessionName": "matchdesk"},
        )
        session._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]  # no public setter
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )
    return session


@lru_cache(maxsize=1)
def known_regions() -> tuple[str, ...]:
    """The regions boto3's own endpoint data lists for Customer Profiles, in every partition."""
    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions(SERVICE, partition_name=partition))
    return tuple(sorted(regions))


def region_problem(region: str) -> str:
    """Why `region` cannot host a Customer Profiles domain, or "" when boto3 knows it for the service."""
    if region in known_regions():
        return ""
    shown = region if len(region) <= 40 and region.isprintable() else repr(region[:40])
    choices = ", ".join(known_regions())
    return f"'{shown}' is not a region where boto3 knows Customer Profiles. Choose one of: {choices}."


def client_for(domain: DomainLike) -> CustomerProfilesClient:
    """The domain's client. A region or endpoint boto3 cannot use raises AwsConfigError (never retried)."""
    target = Target.of(domain)
    problem = region_problem(target.region)
    where = f"Domain '{target.name}'"
    if problem:
        raise AwsConfigError(f"{where}: {problem} Fix the region on the domain's admin page.", code="InvalidRegion")
    try:
        return _client(target.region, target.endpoint_url, target.role_arn)
    except InvalidRegionError as exc:
        fix = "Fix the region on the domain's admin page."
        raise AwsConfigError(f"{where}: {exc}. {fix}", code="InvalidRegion") from exc
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise AwsConfigError(
            f"{where}: boto3 cannot use endpoint URL '{target.endpoint_url}' ({exc}). Fix it on the domain's admin "
            "page, or leave it blank for the standard endpoint.",
            code="InvalidEndpoint",
        ) from exc


def translate(exc: Exception, *, operation: str, domain: DomainLike) -> MatchdeskAwsError:
    """Turn a botocore exception into one of ours, with a message a person can act on; counted by operation and
    AWS's error code (the `matchdesk_aws_errors_total` metric)."""
    error = _translate(exc, operation=operation, domain=domain)
    counters.count(counters.AWS_ERRORS, operation, error.code)
    return error


def _translate(exc: Exception, *, operation: str, domain: DomainLike) -> MatchdeskAwsError:
    where = f"{operation} on domain '{domain.name}' ({domain.region})"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "Unknown")
        aws_message = err.get("Message", "") or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        cls = _CODE_TO_ERROR.get(code)
        if cls is None:
            cls = AwsServerError if (status or 0) >= 500 else AwsBadRequest
        advice = (_S3_ADVICE if operation.startswith("S3") else _ADVICE).get(cls, "")
        return cls(
            f"{where} failed: {code}: {aws_message}. {advice}".strip(),
            code=code,
            aws_message=aws_message,
            status=status,
        )
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError, ConnectionClosedError)):
        return AwsUnavailable(f"{where}: no answer from AWS ({exc}). Check the network and the endpoint URL.")
    if isinstance(exc, NoCredentialsError):
        return AwsConfigError(f"{where}: no AWS credentials found. Configure the standard boto3 credential chain.")
    if isinstance(exc, ParamValidationError):
        return AwsBadRequest(f"{where}: invalid request: {exc}")
    if isinstance(exc, BotoCoreError):
        return AwsUnavailable(f"{where}: {exc}")
    raise exc


def _call(domain: DomainLike, operation: str, **params: Any) -> dict[str, Any]:
    try:
        # Inside the translation: building the client can fail too (a bad region or endpoint, a role to assume).
        client = client_for(domain)
        response: dict[str, Any] = getattr(client, operation)(**params)
        return response
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation=_pascal(operation), domain=domain) from exc


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


# Operations ---------------------------------------------------------------------------------------------------------


def get_matches(domain: DomainLike, *, next_token: str | None = None, max_results: int = 100) -> dict[str, Any]:
    """One GetMatches page: NextToken and MatchGenerationDate parsed by boto3, `Matches` raw as received
    (not validated here: the pull quarantines bad items)."""
    params: dict[str, Any] = {"DomainName": domain.name, "MaxResults": max_results}
    if next_token:
        params["NextToken"] = next_token
    return _call(domain, "get_matches", **params)


def batch_get_profiles(
    domain: DomainLike, profile_ids: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """BatchGetProfile for at most 20 ids: (profiles by id, errors by id)."""
    if not 1 <= len(profile_ids) <= MAX_IDS_PER_CALL:
        raise ValueError(f"BatchGetProfile takes 1 to {MAX_IDS_PER_CALL} ids, got {len(profile_ids)}")
    response = _call(domain, "batch_get_profile", DomainName=domain.name, ProfileIds=list(profile_ids))
    profiles = {p["ProfileId"]: p for p in response.get("Profiles", [])}
    errors = {e.get("ProfileId", ""): e for e in response.get("Errors", [])}
    return profiles, errors


def merge_profiles(
    domain: DomainLike, *, main_profile_id: str, profile_ids: list[str], field_sources: dict[str, str] | None = None
) -> str:
    """One MergeProfiles call (irreversible; never retried here). Returns AWS's message."""
    if not 1 <= len(profile_ids) <= MAX_IDS_PER_CALL:
        raise ValueError(f"MergeProfiles takes 1 to {MAX_IDS_PER_CALL} ids to merge, got {len(profile_ids)}")
    params: dict[str, Any] = {
        "DomainName": domain.name,
        "MainProfileId": main_profile_id,
        "ProfileIdsToBeMerged": list(profile_ids),
    }
    if field_sources:
        params["FieldSourceProfileIds"] = field_sources
    message: str = _call(domain, "merge_profiles", **params).get("Message", "")
    return message


def get_domain(domain: DomainLike) -> dict[str, Any]:
    return _call(domain, "get_domain", DomainName=domain.name)


def list_identity_resolution_jobs(domain: DomainLike, *, max_results: int = 20) -> list[dict[str, Any]]:
    response = _call(domain, "list_identity_resolution_jobs", DomainName=domain.name, MaxResults=max_results)
    jobs: list[dict[str, Any]] = response.get("IdentityResolutionJobsList", [])
    return jobs


def get_auto_merging_preview(
    domain: DomainLike,
    *,
    min_score: float,
    consolidation: dict[str, Any] | None = None,
    conflict_resolution: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """GetAutoMergingPreview: what AWS's own auto-merging would merge from `min_score` up (a dry run)."""
    return _call(
        domain,
        "get_auto_merging_preview",
        DomainName=domain.name,
        Consolidation=consolidation or DEFAULT_CONSOLIDATION,
        ConflictResolution=conflict_resolution or DEFAULT_CONFLICT_RESOLUTION,
        MinAllowedConfidenceScoreForMerging=float(min_score),
    )


def get_identity_resolution_job(domain: DomainLike, *, job_id: str) -> dict[str, Any]:
    """One job with its JobStats and, when the domain exports its results, ExportingLocation."""
    return _call(domain, "get_identity_resolution_job", DomainName=domain.name, JobId=job_id)


def list_profile_history_records(
    domain: DomainLike, *, profile_id: str, action_type: str | None = None, max_pages: int = 10
) -> list[dict[str, Any]]:
    """A profile's history records (ListProfileHistoryRecords, 100 a page), newest pages first as AWS serves them."""
    params: dict[str, Any] = {"DomainName": domain.name, "ProfileId": profile_id, "MaxResults": 100}
    if action_type:
        params["ActionType"] = action_type
    records: list[dict[str, Any]] = []
    for _ in range(max_pages):
        response = _call(domain, "list_profile_history_records", **params)
        records.extend(response.get("ProfileHistoryRecords", []))
        token = response.get("NextToken")
        if not token:
            break
        params["NextToken"] = token
    return records


# S3 (the identity-resolution export) ---------------------------------------------------------------------------------

S3_CHUNK = 1 << 20


@lru_cache(maxsize=64)
def _s3_client(region: str, endpoint_url: str, role_arn: str) -> Any:
    # An S3 stand-in at an endpoint URL (moto's server) takes the bucket in the path, not in the host name.
    config = _config(region, s3={"addressing_style": "path"} if endpoint_url else {})
    with _client_lock:
        session = boto3.Session(botocore_session=_botocore_session(role_arn))
        return session.client("s3", config=config, endpoint_url=endpoint_url or None)


def _s3(domain: DomainLike) -> Any:
    target = Target.of(domain)
    return _s3_client(target.region, settings.MATCHDESK.get("S3_ENDPOINT_URL") or "", target.role_arn)


def _s3_call(domain: DomainLike, operation: str, call: Any) -> Any:
    try:
        return call(_s3(domain))
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation=f"S3 {operation}", domain=domain) from exc
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise AwsConfigError(f"S3 endpoint URL is not usable ({exc}); fix MATCHDESK_S3_ENDPOINT_URL.") from exc


def s3_list_objects(domain: DomainLike, *, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every object under the prefix (ListObjectsV2, all pages): [{"Key", "Size"}], in key order."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = _s3_call(domain, "ListObjectsV2", lambda c: c.list_objects_v2(**params))
        found.extend({"Key": o["Key"], "Size": int(o.get("Size", 0))} for o in page.get("Contents", []))
        if not page.get("IsTruncated"):
            return sorted(found, key=lambda o: o["Key"])
        params["ContinuationToken"] = page["NextContinuationToken"]


def s3_object_chunks(domain: DomainLike, *, bucket: str, key: str) -> Iterator[bytes]:
    """GetObject now; the object's bytes in chunks as they arrive. A failure mid-stream raises MatchdeskAwsError."""
    body = _s3_call(domain, "GetObject", lambda c: c.get_object(Bucket=bucket, Key=key))["Body"]
    return _body_chunks(domain, body)


def _body_chunks(domain: DomainLike, body: Any) -> Iterator[bytes]:
    try:
        while True:
            try:
                chunk = body.read(S3_CHUNK)
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc, operation="S3 GetObject", domain=domain) from exc
            if not chunk:
                return
            yield chunk
    finally:
        body.close()


# Search: the profile the engine missed (docs/architecture.md, "Search and manual groups") ---------------------------


def search_profiles(
    domain: DomainLike,
    *,
    keys: list[tuple[str, list[str]]],
    operator: str = "OR",
    max_results: int = 20,
    next_token: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One SearchProfiles page: the first (key, values) is KeyName/Values, the rest AdditionalSearchKeys. Returns
    (profiles, next token)."""
    if not 1 <= len(keys) <= SEARCH_MAX_KEYS or any(k not in SEARCH_KEYS or not v for k, v in keys):
        raise ValueError(f"SearchProfiles takes 1 to {SEARCH_MAX_KEYS} keys of {', '.join(SEARCH_KEYS)}")
    if operator not in ("AND", "OR") or not 1 <= max_results <= SEARCH_MAX_RESULTS:
        raise ValueError("SearchProfiles takes AND or OR and 1 to 100 results a page")
    (key, values), *extra = keys
    params: dict[str, Any] = {"DomainName": domain.name, "KeyName": key, "Values": values, "MaxResults": max_results}
    if extra:
        params["AdditionalSearchKeys"] = [{"KeyName": k, "Values": v} for k, v in extra]
        params["LogicalOperator"] = operator
    if next_token:
        params["NextToken"] = next_token
    response = _call(domain, "search_profiles", **params)
    return list(response.get("Items", [])), response.get("NextToken")


def get_similar_profiles(
    domain: DomainLike,
    *,
    profile_id: str = "",
    match_id: str = "",
    match_type: str = "ML_BASED_MATCHING",
    max_results: int = 100,
    next_token: str | None = None,
) -> dict[str, Any]:
    """One GetSimilarProfiles page for a profile (SearchKey `_profileId`) or a match id (`_matchId`, how a rule-based
    MatchId is read): ProfileIds, MatchId, MatchType, ConfidenceScore (ML) or RuleLevel (rule-based)."""
    if match_type not in ("ML_BASED_MATCHING", "RULE_BASED_MATCHING") or bool(profile_id) == bool(match_id):
        raise ValueError("GetSimilarProfiles takes ML_ or RULE_BASED_MATCHING and a profile id or a match id")
    key, value = ("_profileId", profile_id) if profile_id else ("_matchId", match_id)
    params: dict[str, Any] = {"DomainName": domain.name, "MatchType": match_type, "SearchKey": key}
    params |= {"SearchValue": value, "MaxResults": max_results, **({"NextToken": next_token} if next_token else {})}
    return _call(domain, "get_similar_profiles", **params)


def list_rule_based_matches(
    domain: DomainLike, *, next_token: str | None = None, max_results: int = 100
) -> dict[str, Any]:
    """One ListRuleBasedMatches page: MatchIds (ids only; GetSimilarProfiles by `_matchId` gives each one's set)."""
    params = {"DomainName": domain.name, "MaxResults": max_results, **({"NextToken": next_token} if next_token else {})}
    return _call(domain, "list_rule_based_matches", **params)
