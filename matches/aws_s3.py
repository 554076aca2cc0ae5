"""The S3 half of matches/aws.py: the identity-resolution job's export (docs/architecture.md, "S3 ingestion"). The
same clients' rules (explicit timeouts, botocore retries off, the domain's role) and the same error translation;
only services import it, as they do aws.py."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from matches.aws import RETRIES, _botocore_session, _client_lock, translate
from matches.aws_errors import AwsConfigError, DomainLike, Target, s3_location

__all__ = ["S3_CHUNK", "s3_list_objects", "s3_location", "s3_object_chunks"]

S3_CHUNK = 1 << 20


@lru_cache(maxsize=64)
def _s3_client(region: str, endpoint_url: str, role_arn: str) -> Any:
    config = Config(
        region_name=region,
        connect_timeout=settings.MATCHDESK["AWS_CONNECT_TIMEOUT"],
        read_timeout=settings.MATCHDESK["AWS_READ_TIMEOUT"],
        retries=RETRIES,
        user_agent_extra="matchdesk",
        # An S3 stand-in at an endpoint URL (moto's server) takes the bucket in the path, not in the host name.
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
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
