"""Fault injection: seeded, so a test that sees a throttle on call 17 sees it there every time."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

AWS_OPERATIONS = (
    "ListDomains",
    "GetDomain",
    "GetMatches",
    "BatchGetProfile",
    "SearchProfiles",
    "GetSimilarProfiles",
    "MergeProfiles",
    "ListIdentityResolutionJobs",
    "GetIdentityResolutionJob",
    "GetAutoMergingPreview",
)
# Faults may name these too; the default set (`operations`) stays the eight above.
KNOWN_OPERATIONS = (
    *AWS_OPERATIONS,
    "UpdateDomain",
    "ListProfileHistoryRecords",
    "GetProfileHistoryRecord",
    "ListRuleBasedMatches",
)
STATUS_ERRORS = {
    400: "BadRequestException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
}
MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "InternalServerException": "An internal error occurred. Try again later.",
    "AccessDeniedException": "User is not authorized to perform this action on this resource.",
    "ResourceNotFoundException": "The requested resource was not found.",
    "BadRequestException": "The request was rejected by the service.",
}


@dataclass
class Fault:
    code: str
    message: str

    @property
    def status(self) -> int:
        return {v: k for k, v in STATUS_ERRORS.items()}[self.code]


@dataclass
class Decision:
    fault: Fault | None = None
    latency_ms: float = 0.0


@dataclass
class FaultConfig:
    seed: int = 0
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    latency_ms: float = 0.0
    operations: tuple[str, ...] = AWS_OPERATIONS
    token_ttl_seconds: float | None = None
    merge_500_after_merge: int = 0
    merge_apply_delay_seconds: float = 0.0  # MergeProfiles answers 200 at once, the merge shows up this much later
    merge_response_delay_ms: float = 0.0  # the merge is done at once, the answer comes this much later
    access_denied: bool = False
    fail_next: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        cfg = cls(**{k: v for k, v in data.items() if k != "operations"})
        if data.get("operations") is not None:
            ops = tuple(data["operations"])
            bad = [o for o in ops if o not in KNOWN_OPERATIONS]
            if bad:
                raise ValueError(f"unknown operations: {bad}")
            cfg.operations = ops
        for rate in (cfg.throttle_rate, cfg.error_rate):
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError("rates are between 0 and 1")
        for item in cfg.fail_next:
            if item.get("operation") not in KNOWN_OPERATIONS or int(item.get("status", 0)) not in STATUS_ERRORS:
                raise ValueError(f"bad fail_next entry: {item}")
        cfg.fail_next = [{**i, "count": int(i.get("count", 1))} for i in cfg.fail_next]
        return cfg


class Faults:
    """Decides, per AWS call, whether it fails. Not thread-safe: callers hold the emulator lock."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)

    def decide(self, operation: str) -> Decision:
        cfg = self.config
        for item in cfg.fail_next:
            if item["operation"] == operation and item["count"] > 0:
                item["count"] -= 1
                code = STATUS_ERRORS[int(item["status"])]
                return Decision(Fault(code, item.get("message") or MESSAGES[code]))
        if operation not in cfg.operations:
            return Decision()
        latency = float(cfg.latency_ms)
        if cfg.access_denied:
            return Decision(Fault("AccessDeniedException", MESSAGES["AccessDeniedException"]), latency)
        # One draw per call keeps the sequence identical for a seed whatever the rates are.
        draw = self.rng.random()
        if draw < cfg.throttle_rate:
            return Decision(Fault("ThrottlingException", MESSAGES["ThrottlingException"]), latency)
        if draw < cfg.throttle_rate + cfg.error_rate:
            return Decision(Fault("InternalServerException", MESSAGES["InternalServerException"]), latency)
        return Decision(None, latency)

    def take_merge_500(self) -> bool:
        if self.config.merge_500_after_merge > 0:
            self.config.merge_500_after_merge -= 1
            return True
        return False
