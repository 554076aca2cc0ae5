"""Domain state: profiles, the served match list, identity-resolution jobs and the hidden truth."""

from __future__ import annotations

import base64
import json
import secrets
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, Protocol

from emulator.bulk import LINKAGE_GROUPS_PER_CUSTOMER, SCENARIOS, BulkGroups
from emulator.generator import Generator, generate
from emulator.matching import resolve

TERMINAL_WITH_RESULTS = ("COMPLETED", "PARTIAL_SUCCESS")
JOB_STATUSES = ("PENDING", "PREPROCESSING", "FIND_MATCHING", "MERGING", "COMPLETED", "PARTIAL_SUCCESS", "FAILED")
CUTOFFS = (0.5, 0.7, 0.8, 0.9, 0.95)
BANDS = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.0))


class ApiError(Exception):
    """An AWS-style error: the exception name becomes x-amzn-ErrorType."""

    STATUS = {
        "BadRequestException": 400,
        "AccessDeniedException": 403,
        "ResourceNotFoundException": 404,
        "ThrottlingException": 429,
        "InternalServerException": 500,
    }

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = self.STATUS.get(code, 400)


class MatchSource(Protocol):
    def __len__(self) -> int: ...

    def page(self, start: int, stop: int) -> list[Any]: ...


class ListMatches:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def page(self, start: int, stop: int) -> list[Any]:
        return self.items[start:stop]


class BulkMatches:
    """The groups of a bulk run: the group order is an index array, ids are rebuilt on the fly."""

    def __init__(self, groups: BulkGroups, order: array, gone: frozenset[str], salt: str) -> None:
        self.groups = groups
        self.order = order
        self.gone = gone
        self.salt = salt

    def __len__(self) -> int:
        return len(self.order)

    def ids(self, g: int) -> list[str]:
        return [pid for pid in self.groups.member_ids(g) if pid not in self.gone]

    def page(self, start: int, stop: int) -> list[Any]:
        out = []
        for g in self.order[start:stop]:
            out.append(
                {
                    "MatchId": f"{self.salt}{g:012x}",
                    "ProfileIds": self.ids(g),
                    "ConfidenceScore": round(float(self.groups.scores[g]), 6),
                }
            )
        return out


@dataclass
class Job:
    job_id: str
    status: str
    start: float
    end: float | None
    stats: dict[str, int]
    message: str | None = None
    location: dict[str, Any] | None = None  # ExportingLocation, when the domain exports its results to S3

    def to_api(self, domain: Domain, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "DomainName": domain.name,
            "JobId": self.job_id,
            "Status": self.status,
            "JobStartTime": self.start,
        }
        if self.end is not None:
            out["JobEndTime"] = self.end
        out["JobStats"] = {
            "NumberOfProfilesReviewed": self.stats.get("reviewed", 0),
            "NumberOfMatchesFound": self.stats.get("matches", 0),
            "NumberOfMergesDone": self.stats.get("merges", 0),
        }
        if self.message:
            out["Message"] = self.message
        if self.location:
            out["ExportingLocation"] = self.location
        if full:
            out["LastUpdatedAt"] = self.end or self.start
            out["JobExpirationTime"] = (self.end or self.start) + 30 * 86400
            out["AutoMerging"] = domain.auto_merging
        return out


class _Tally:
    """Running counts per cut-off and band, so a report over a million groups needs no list of them."""

    def __init__(self) -> None:
        self.groups = 0
        self.cut = {c: [0, 0, 0] for c in CUTOFFS}  # groups, true groups, true pairs
        self.bands = {b: [0, 0] for b in BANDS}  # true, false

    def add(self, score: float, is_true: bool, pairs: int) -> None:
        self.groups += 1
        for c, counts in self.cut.items():
            if score >= c:
                counts[0] += 1
                counts[1] += is_true
                counts[2] += pairs
        for (lo, hi), counts in self.bands.items():
            if lo <= score < hi or (hi == 1.0 and score == 1.0):
                counts[0 if is_true else 1] += 1

    def report(self, total_pairs: int) -> dict[str, Any]:
        return {
            "groups": self.groups,
            "cutoffs": [
                {
                    "score": c,
                    "groups": n,
                    "true_groups": t,
                    "precision": round(t / n, 4) if n else None,
                    "recall": round(pairs / total_pairs, 4) if total_pairs else None,
                }
                for c, (n, t, pairs) in self.cut.items()
            ],
            "bands": [{"lo": lo, "hi": hi, "true": t, "false": f} for (lo, hi), (t, f) in self.bands.items()],
        }


def _default_auto_merging() -> dict[str, Any]:
    return {"Enabled": False}


@dataclass
class Domain:
    name: str
    seed: int = 0
    created_at: float = field(default_factory=lambda: float(int(time.time())))
    updated_at: float = field(default_factory=lambda: float(int(time.time())))
    matching_enabled: bool = True
    job_schedule: dict[str, str] = field(default_factory=lambda: {"DayOfTheWeek": "SATURDAY", "Time": "00:00"})
    auto_merging: dict[str, Any] = field(default_factory=_default_auto_merging)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # bulk: only overrides/added profiles
    deleted: set[str] = field(default_factory=set)  # bulk: generated profiles that are gone
    truth: dict[str, str] = field(default_factory=dict)
    bulk: BulkGroups | None = None
    matches: MatchSource = field(default_factory=lambda: ListMatches([]))
    generation: float | None = None
    jobs: list[Job] = field(default_factory=list)
    # MatchingRequest.ExportingConfig, and where and how the emulator writes it (export.py)
    exporting: dict[str, Any] | None = None
    export: dict[str, Any] | None = None
    # ListProfileHistoryRecords: records per profile id, oldest first; kept after the profile is gone
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # GetDomain's RuleBasedMatching as set by UpdateDomain or the control API (emulator/rules.py); None: never set
    rule_based: dict[str, Any] | None = None

    # -- profiles -----------------------------------------------------------------------------------------------
    def get_profile(self, pid: str, generator: Generator) -> dict[str, Any] | None:
        if pid in self.profiles:
            return self.profiles[pid]
        if self.bulk is not None and pid not in self.deleted:
            where = self.bulk.locate(pid)
            if where is not None:
                return self.bulk.make_profile(generator, *where)
        return None

    def put_profile(self, prof: dict[str, Any]) -> str:
        pid = prof.get("ProfileId") or secrets.token_hex(16)
        self.profiles[pid] = {**prof, "ProfileId": pid}
        self.deleted.discard(pid)
        return pid

    def delete_profile(self, pid: str) -> bool:
        if pid in self.profiles:
            del self.profiles[pid]
            if self.bulk is not None and self.bulk.locate(pid) is not None:
                self.deleted.add(pid)
            return True
        if self.bulk is not None and pid not in self.deleted and self.bulk.locate(pid) is not None:
            self.deleted.add(pid)
            return True
        return False

    def record_history(
        self, pid: str, action: str, *, performed_by: str, content: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        now = time.time()
        record = {
            "Id": secrets.token_hex(16),
            "ObjectTypeName": "_profile",
            "CreatedAt": now,
            "LastUpdatedAt": now,
            "ActionType": action,
            "PerformedBy": performed_by,
            "Content": json.dumps(content or {"ProfileId": pid}),
        }
        self.history.setdefault(pid, []).append(record)
        return record

    def export_job(self, job: Job) -> None:
        """Write the job's results to S3 when the domain has an ExportingConfig (export.py)."""
        if not self.exporting or not self.export or job.status not in TERMINAL_WITH_RESULTS:
            return
        from emulator.export import write_export

        job.location = write_export(
            exporting=self.exporting,
            options=self.export,
            job_id=job.job_id,
            total=len(self.matches),
            page=self.matches.page,
        )

    def profile_count(self) -> int:
        if self.bulk is None:
            return len(self.profiles)
        generated = sum(self.bulk.sizes)
        extra = sum(1 for pid in self.profiles if self.bulk.locate(pid) is None)
        return generated - len(self.deleted) + extra

    # -- identity resolution ------------------------------------------------------------------------------------
    def next_generation(self, at: float | None = None) -> float:
        # Whole seconds, strictly increasing: a consumer compares generations for equality.
        now = float(int(at if at is not None else time.time()))
        if self.generation is not None and now <= self.generation:
            now = self.generation + 1
        return now

    def run_job(self, status: str = "COMPLETED", at: float | None = None) -> Job:
        job_id = secrets.token_hex(16)
        if status not in TERMINAL_WITH_RESULTS:
            # A job that is still running or failed leaves the previous results in place.
            job = Job(
                job_id, status, float(int(time.time())), None if status != "FAILED" else float(int(time.time())), {}
            )
            self.jobs.append(job)
            return job
        generation = self.next_generation(at)
        merges = 0
        if self.bulk is None:
            found = resolve(self.profiles, self.seed)
            items: list[Any] = []
            threshold = self.auto_merge_threshold()
            salt = secrets.token_hex(6)
            for i, grp in enumerate(found):
                if threshold is not None and grp.score >= threshold:
                    self.auto_merge(list(grp.profile_ids))
                    merges += 1
                    continue
                items.append(
                    {"MatchId": f"{salt}{i:08x}", "ProfileIds": list(grp.profile_ids), "ConfidenceScore": grp.score}
                )
            self.matches = ListMatches(items)
            reviewed = len(self.profiles)
        else:
            gone = frozenset(self.deleted)
            lost = self.bulk_losses(gone)
            sizes = self.bulk.sizes
            order = array("I", (g for g in range(self.bulk.count) if sizes[g] - lost.get(g, 0) >= 2))
            self.matches = BulkMatches(self.bulk, order, gone, secrets.token_hex(6))
            reviewed = self.profile_count()
        self.generation = generation
        duration = 30 + reviewed // 500
        job = Job(
            job_id,
            status,
            generation - duration,
            generation,
            {"reviewed": reviewed, "matches": len(self.matches), "merges": merges},
        )
        self.export_job(job)
        self.jobs.append(job)
        return job

    def bulk_losses(self, gone: frozenset[str] | set[str]) -> Counter[int]:
        """Members lost per bulk group: found from the (small) set of gone ids, not by scanning groups."""
        lost: Counter[int] = Counter()
        if self.bulk is not None:
            for pid in gone:
                where = self.bulk.locate(pid)
                if where is not None:
                    lost[where[0]] += 1
        return lost

    def auto_merge_threshold(self) -> float | None:
        am = self.auto_merging or {}
        if not am.get("Enabled"):
            return None
        return float(am.get("MinAllowedConfidenceScoreForMerging", 1.0 + 1e-9))

    def auto_merge(self, ids: list[str]) -> None:
        from emulator.merge import merge_profiles

        main, *others = [self.profiles[i] for i in ids if i in self.profiles]
        self.profiles[main["ProfileId"]] = merge_profiles(main, others, None)
        by = "arn:aws:iam::000000000000:role/service-role/customer-profiles-auto-merge"
        for other in others:
            del self.profiles[other["ProfileId"]]
            self.record_history(other["ProfileId"], "DELETED_BY_MERGE", performed_by=by)
        if others:
            self.record_history(main["ProfileId"], "MERGED", performed_by=by)

    def set_matches(self, items: list[Any], generation: float | None, status: str) -> Job:
        gen = generation if generation is not None else self.next_generation()
        self.generation = gen
        self.matches = ListMatches(list(items))
        job = Job(
            secrets.token_hex(16),
            status,
            gen - 30,
            gen,
            {"reviewed": self.profile_count(), "matches": len(items), "merges": 0},
        )
        self.export_job(job)
        self.jobs.append(job)
        return job

    # -- truth --------------------------------------------------------------------------------------------------
    def truth_report(self) -> dict[str, Any]:
        """Precision and recall of the served groups against the hidden customer ids.

        A group is true when all its profiles belong to one customer. Recall is pairwise: the share of
        same-customer profile pairs (among live profiles) that sit together in a group at or above the cut-off.
        """
        tally = _Tally()
        for score, is_true, pairs in self._scored_groups():
            tally.add(score, is_true, pairs)
        return {"domain": self.name, "true_pairs": self._true_pairs(), **tally.report(self._true_pairs())}

    def group_truth(self) -> list[tuple[float, bool, bool]]:
        """(score, all one person, at least two profiles of one person) per served group, in serving order: the
        hidden answer a simulation labels decisions with."""
        return [(score, is_true, pairs > 0) for score, is_true, pairs in self._scored_groups()]

    def _scored_groups(self) -> Iterator[tuple[float, bool, int]]:
        """(score, all one customer, same-customer pairs inside) per well-formed served group."""
        if isinstance(self.matches, BulkMatches) and self.bulk is not None:
            lost_at_run = self.bulk_losses(self.matches.gone)
            sizes, true, scores = self.bulk.sizes, self.bulk.true, self.bulk.scores
            for g in self.matches.order:
                size = sizes[g] - lost_at_run.get(g, 0)
                yield float(scores[g]), bool(true[g]), size * (size - 1) // 2 if true[g] else 0
            return
        for item in self.matches.page(0, len(self.matches)):
            if not isinstance(item, dict):
                continue
            ids, score = item.get("ProfileIds"), item.get("ConfidenceScore")
            if not isinstance(ids, list) or not isinstance(score, (int, float)) or isinstance(score, bool):
                continue
            customers = [self.truth.get(p, f"?{p}") for p in ids if isinstance(p, str)]
            pairs = sum(1 for a, b in combinations(customers, 2) if a == b)
            yield float(score), len(set(customers)) == 1 and len(customers) > 1, pairs

    def _true_pairs(self) -> int:
        if self.bulk is not None:
            lost_now = self.bulk_losses(self.deleted)
            sizes, true = self.bulk.sizes, self.bulk.true
            return sum(
                (sizes[g] - lost_now.get(g, 0)) * (sizes[g] - lost_now.get(g, 0) - 1) // 2
                for g in range(self.bulk.count)
                if true[g]
            )
        live = Counter(self.truth[p] for p in self.profiles if p in self.truth)
        return sum(n * (n - 1) // 2 for n in live.values())

    # -- persistence --------------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "matching_enabled": self.matching_enabled,
            "job_schedule": self.job_schedule,
            "auto_merging": self.auto_merging,
            "profiles": self.profiles,
            "deleted": sorted(self.deleted),
            "truth": self.truth,
            "generation": self.generation,
            "jobs": [asdict(j) for j in self.jobs],
            "exporting": self.exporting,
            "export": self.export,
            "history": self.history,
            "rule_based": self.rule_based,
        }
        if isinstance(self.matches, BulkMatches):
            state["bulk_matches"] = {
                "order": base64.b64encode(self.matches.order.tobytes()).decode(),
                "gone": sorted(self.matches.gone),
                "salt": self.matches.salt,
            }
        else:
            state["matches"] = self.matches.page(0, len(self.matches))
        if self.bulk is not None:
            state["bulk_groups"] = self.bulk.count
            state["scenario"] = self.bulk.scenario
            state["nonmatch_share"] = self.bulk.nonmatch_share
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Domain:
        dom = cls(
            name=state["name"],
            seed=state["seed"],
            created_at=state["created_at"],
            updated_at=state["updated_at"],
            matching_enabled=state["matching_enabled"],
            job_schedule=state["job_schedule"],
            auto_merging=state["auto_merging"],
            profiles=state["profiles"],
            deleted=set(state["deleted"]),
            truth=state["truth"],
            generation=state["generation"],
            jobs=[Job(**j) for j in state["jobs"]],
            exporting=state.get("exporting"),
            export=state.get("export"),
            history=state.get("history", {}),
            rule_based=state.get("rule_based"),
        )
        if "bulk_groups" in state:
            dom.bulk = BulkGroups(
                dom.seed,
                state["bulk_groups"],
                state.get("scenario", "default"),
                state.get("nonmatch_share"),
            )
        if "bulk_matches" in state and dom.bulk is not None:
            bm = state["bulk_matches"]
            order = array("I")
            order.frombytes(base64.b64decode(bm["order"]))
            dom.matches = BulkMatches(dom.bulk, order, frozenset(bm["gone"]), bm["salt"])
        else:
            dom.matches = ListMatches(state.get("matches", []))
        return dom


def build_domain(
    name: str,
    *,
    seed: int = 0,
    customers: int | None = None,
    bulk_groups: int | None = None,
    scenario: str = "default",
    nonmatch_share: float | None = None,
    profiles: Sequence[dict[str, Any]] | None = None,
    matching_enabled: bool = True,
    auto_merging: dict[str, Any] | None = None,
    job_schedule: dict[str, str] | None = None,
    run_job: bool = True,
    generator: Generator | None = None,
    exporting: dict[str, Any] | None = None,
    export: dict[str, Any] | None = None,
) -> Domain:
    dom = Domain(name=name, seed=seed, matching_enabled=matching_enabled, exporting=exporting, export=export)
    if auto_merging is not None:
        dom.auto_merging = auto_merging
    if job_schedule is not None:
        dom.job_schedule = job_schedule
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
    if scenario == "linkage" and not bulk_groups and customers:
        # Groups are generated with their scores and truth (as bulk groups are); profiles are built on demand.
        bulk_groups = max(1, round(customers * LINKAGE_GROUPS_PER_CUSTOMER))
    if bulk_groups:
        dom.bulk = BulkGroups(seed, bulk_groups, scenario, nonmatch_share)
    elif customers:
        data = generate(seed, customers, generator)
        dom.profiles, dom.truth = data.profiles, data.truth
    for prof in profiles or ():
        pid = dom.put_profile(dict(prof))
        dom.truth.setdefault(pid, f"added-{pid}")
    if run_job and matching_enabled:
        dom.run_job()
    return dom
