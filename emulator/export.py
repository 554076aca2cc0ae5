"""The S3 export of a job's results, when a domain's MatchingRequest has an ExportingConfig.

AWS publishes no file layout for the export, so the emulator writes what Matchdesk assumes (its
matches/services/pulls/s3_format.py, never imported here): `jsonl` (one GetMatches item a line), `jsonl.gz`, `csv`
(long: MatchId, ProfileId, ConfidenceScore, one row per profile) or `csv.gz`, split into `parts` objects under
`<S3KeyName>/<JobId>/`, which is the job's ExportingLocation. The objects go through boto3 to the S3 endpoint the
domain's export options name (moto's S3 server in the demo and the tests); a bucket that does not exist is created.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from typing import Any

FORMATS = ("jsonl", "jsonl.gz", "csv", "csv.gz")
MAX_PARTS = 256


def export_options(raw: Any) -> dict[str, Any]:
    """Validate the control API's `export` options: {"endpoint_url", "format", "parts"}."""
    if not isinstance(raw, dict) or not isinstance(raw.get("endpoint_url"), str) or not raw["endpoint_url"]:
        raise ValueError("export needs endpoint_url (the S3 endpoint to write to)")
    fmt = raw.get("format", "jsonl.gz")
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}")
    parts = raw.get("parts", 4)
    if not isinstance(parts, int) or isinstance(parts, bool) or not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"export parts must be 1..{MAX_PARTS}")
    return {"endpoint_url": raw["endpoint_url"], "format": fmt, "parts": parts}


def _client(endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
    )


def _encode(items: list[Any], fmt: str) -> bytes:
    if fmt.startswith("jsonl"):
        data = "".join(json.dumps(item) + "\n" for item in items).encode()
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["MatchId", "ProfileId", "ConfidenceScore"])
        for item in items:
            for pid in item.get("ProfileIds") or []:
                writer.writerow([item.get("MatchId"), pid, item.get("ConfidenceScore")])
        data = out.getvalue().encode()
    return gzip.compress(data, compresslevel=1) if fmt.endswith(".gz") else data


def write_export(
    *, exporting: dict[str, Any], options: dict[str, Any], job_id: str, total: int, page: Any
) -> dict[str, Any]:
    """Write `total` items (read with `page(start, stop)`) as the export of job `job_id`; the ExportingLocation."""
    config = exporting.get("S3Exporting") or {}
    bucket = config["S3BucketName"]
    prefix = f"{str(config.get('S3KeyName') or 'identity-resolution').strip('/')}/{job_id}/"
    client = _client(options["endpoint_url"])
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001  any "not there" answer: create it, as an account's own bucket would be
        client.create_bucket(Bucket=bucket)
    fmt, parts = options["format"], max(1, min(options["parts"], total or 1))
    per = -(-total // parts) if total else 0
    for part in range(parts):
        items = page(part * per, min(total, (part + 1) * per)) if total else []
        suffix = {"jsonl": "json", "jsonl.gz": "json.gz", "csv": "csv", "csv.gz": "csv.gz"}[fmt]
        client.put_object(Bucket=bucket, Key=f"{prefix}part-{part:05d}.{suffix}", Body=_encode(items, fmt))
    return {"S3Exporting": {"S3BucketName": bucket, "S3KeyName": prefix}}
