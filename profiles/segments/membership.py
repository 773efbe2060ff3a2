"""Keeping segment membership true: re-evaluate subjects as their events arrive and as windows close.

A subject is a member only while the condition holds AND it consents to every purpose the
segment relies on; each join and each leave is a ledger event (source names the segment).

Event conditions are evaluated from evidence (`SegmentEvidence`): per subject and segment, the
hits of each event leaf that can still decide a verdict (`rules.hits_worth_keeping`). The
consumer decrypts each new collected event once and adds it to the evidence of its subject;
only when evidence is missing, was built for another version of a rule, or a key of the subject
was shredded does it rebuild a subject's evidence from the ledger window (`segments_refresh`
always does). Both give the same verdicts (tests/profiles/test_segment_evidence.py).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import keys
from audit.consumers import consumer_lock, position_get, position_save
from audit.errors import InvalidIdentifier
from audit.selectors import (
    Position,
    ReadEvent,
    StoredEvent,
    decrypt,
    ledger_events_for_subjects,
    ledger_read_after,
    ledger_streams_since,
)
from audit.services import Actor, NewEvent, ledger_append
from consent.gate import decide, decide_many
from consent.models import Service
from consent.sale_share import sale_share_withheld
from hub.db_router import replica_read
from profiles.activation.segment_hooks import segment_changes_announce
from profiles.event_types import DISCLOSED, SEGMENT_JOINED, SEGMENT_LEFT
from profiles.models import (
    FieldKind,
    ProfileField,
    Segment,
    SegmentEvidence,
    SegmentExclusion,
    SegmentKind,
    SegmentMembership,
)
from profiles.segments import store
from profiles.segments.clusters import clusters_consent_check
from profiles.segments.rules import (
    Facts,
    Occurrence,
    Verdict,
    event_leaves,
    event_matches,
    hits_worth_keeping,
    longest_window,
    matches,
    next_change,
)
from profiles.segments.store import RuleField
from profiles.selectors import PROJECTION

EPOCH, MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)  # exact, unlike floats
Hit = tuple[int, datetime]  # (ledger seq, occurred_at): a reference to an event, not its contents
Evidence = dict[str, dict[str, list[Hit]]]  # segment key -> leaf path -> hits


@dataclass(frozen=True)
class _Rules:
    """The active segments, read once per refresh."""

    segments: list[Segment]
    purposes: dict[str, list[str]]
    leaves: dict[str, list[tuple[str, Mapping[str, Any]]]]
    versions: dict[str, str]

    @classmethod
    def load(cls) -> _Rules:
        # cluster models (profiles/segments/clusters.py) are labelled by training, not by a rule
        segments = list(
            Segment.objects.filter(active=True, kind=SegmentKind.RULE)
            .prefetch_related("purposes")
            .order_by("key")
        )
        purposes = {segment.pk: segment.purpose_keys() for segment in segments}
        return cls(
            segments,
            purposes,
            {segment.pk: event_leaves(segment.condition) for segment in segments},
            {segment.pk: _version(segment.condition, purposes[segment.pk]) for segment in segments},
        )

    @property
    def event_purposes(self) -> set[str]:
        """Purposes whose collected events some event leaf may count."""
        return {p for key, leaves in self.leaves.items() if leaves for p in self.purposes[key]}

    def window_start(self, now: datetime) -> datetime:
        return now - timedelta(minutes=max(longest_window(s.condition) for s in self.segments) + 1)


def _version(condition: dict[str, Any], purposes: list[str]) -> str:
    """A fingerprint of what a segment's evidence depends on: its rule and its purposes."""
    return hashlib.sha256(json.dumps([condition, purposes], sort_keys=True).encode()).hexdigest()[:16]


def _occurrence(event: ReadEvent) -> Occurrence | None:
    meta, payload = event.stored.meta, event.payload
    if not meta.event_type.startswith("collection.") or payload is None:
        return None
    return Occurrence(
        payload.get("event") or payload.get("type"), meta.occurred_at, payload.get("properties") or {}
    )


def _evidence_add(evidence: Evidence, rules: _Rules, event: ReadEvent) -> None:
    """Count one collected event in the evidence of every segment whose leaves it matches."""
    occurrence = _occurrence(event)
    if occurrence is None:
        return
    hit = (event.stored.position.seq, occurrence.at)
    for key, leaves in rules.leaves.items():
        if event.stored.meta.purpose not in rules.purposes[key]:
            continue  # a segment may only look at data collected for the purposes it relies on
        for path, body in leaves:
            if event_matches(body, occurrence):
                evidence[key][path].append(hit)


def _evidence_prune(evidence: Evidence, rules: _Rules, now: datetime) -> datetime | None:
    """Keep only the hits that can still decide; returns when the next of them ages out or comes due."""
    moments = []
    for key, leaves in rules.leaves.items():
        for path, body in leaves:
            evidence[key][path] = hits_worth_keeping(body, evidence[key][path], now)
            moments.append(next_change(body, evidence[key][path], now))
    return min((moment for moment in moments if moment is not None), default=None)


def _evidence_load(stored: dict[str, Any], rules: _Rules) -> Evidence | None:
    """Stored evidence, or None when any active segment's part is missing or was built for another rule."""
    evidence: Evidence = {}
    for key, version in rules.versions.items():
        part = stored.get(key)
        if not isinstance(part, dict) or part.get("v") != version:
            return None
        evidence[key] = defaultdict(list)
        for path, hits in part.get("hits", {}).items():
            evidence[key][path] = [(seq, EPOCH + timedelta(microseconds=micros)) for seq, micros in hits]
    return evidence


def _evidence_dump(evidence: Evidence, rules: _Rules) -> dict[str, Any]:
    return {
        key: {
            "v": rules.versions[key],
            "hits": {
                path: [[seq, (at - EPOCH) // MICROSECOND] for seq, at in hits]
                for path, hits in evidence[key].items()
                if hits
            },
        }
        for key in rules.versions
    }


def _evidence_empty(rules: _Rules) -> Evidence:
    return {key: defaultdict(list) for key in rules.versions}


def _evidence_from_ledger(
    subjects: list[uuid.UUID], rules: _Rules, now: datetime
) -> dict[uuid.UUID, Evidence]:
    """Rebuild evidence from the subjects' collected events in the longest window (one read)."""
    built = {subject: _evidence_empty(rules) for subject in subjects}
    if not subjects or not any(rules.leaves.values()):
        return built
    for event in ledger_events_for_subjects(
        subject_ids=subjects, recorded_since=rules.window_start(now), type_prefix="collection."
    ):
        _evidence_add(built[event.stored.meta.stream_id], rules, event)
    return built


def _facts(evidence: Evidence, fields: list[RuleField], key: str, purposes: list[str]) -> Facts:
    """What a segment relying on `purposes` may look at: only data collected for those purposes."""
    traits: dict[str, object] = {}
    scores: dict[str, object] = {}
    for kind, name, purpose, value in fields:
        if purpose not in purposes:
            continue
        if kind == FieldKind.TRAIT:
            traits[name] = value
        elif kind == FieldKind.SCORE:
            scores[name] = value.get("score") if isinstance(value, dict) else value
    hits = {path: [at for _, at in found] for path, found in evidence[key].items()}
    return Facts((), traits, scores, hits)


@transaction.atomic
def segments_refresh(*, subject_ids: Iterable[uuid.UUID], now: datetime | None = None) -> int:
    """Re-evaluate every active segment for these subjects, their evidence rebuilt from the ledger;
    returns how many memberships changed."""
    return _refresh(subject_ids=subject_ids, now=now or timezone.now(), rebuild_all=True)


def _refresh(
    *,
    subject_ids: Iterable[uuid.UUID],
    now: datetime,
    rebuild_all: bool = False,
    rebuild: Collection[uuid.UUID] = (),
    new_events: Sequence[StoredEvent] = (),
) -> int:
    """Bring evidence and memberships of these subjects up to date at `now`.

    `rebuild_all`, or `rebuild` (the subjects whose evidence must be rebuilt from the ledger):
    the others' stored evidence is used and `new_events` (in ledger order) are added to it.
    Reads everything for the whole set of subjects at once — evidence, gate decisions, profile
    fields, memberships — so the cost per subject is CPU, not queries.
    """
    rules = _Rules.load()
    subjects = store.subjects_live(set(subject_ids))
    if not rules.segments or not subjects:
        return 0
    stored = store.evidence_locked(subjects)
    evidence: dict[uuid.UUID, Evidence] = {}
    stale: list[uuid.UUID] = []
    for subject in subjects:
        kept = stored.get(subject)
        loaded = None if rebuild_all or subject in rebuild or kept is None else _evidence_load(kept[0], rules)
        if loaded is None:
            stale.append(subject)
        else:
            evidence[subject] = loaded
    evidence.update(_evidence_from_ledger(stale, rules, now))
    _new_events_add(evidence, rules, new_events, skip=set(stale))
    changed = []
    for subject in subjects:
        recheck = _evidence_prune(evidence[subject], rules, now)
        hits = _evidence_dump(evidence[subject], rules)
        if stored.get(subject) != (hits, recheck):  # most events leave a subject's evidence as it was
            changed.append((subject, hits, recheck))
    store.evidence_save(changed)
    return _memberships_update(subjects, rules, evidence, now)


def _new_events_add(
    evidence: dict[uuid.UUID, Evidence], rules: _Rules, events: Sequence[StoredEvent], *, skip: set[uuid.UUID]
) -> None:
    """Decrypt each new collected event some segment could count (once) and add it to its subject's evidence.

    Subjects in `skip` were just rebuilt from the ledger, which already holds these events."""
    purposes = rules.event_purposes
    wanted = [
        event
        for event in events
        if event.meta.event_type.startswith("collection.")
        and event.meta.purpose in purposes
        and event.meta.stream_id in evidence
        and event.meta.stream_id not in skip
        and event.meta.key_id is not None
    ]
    keys.preload_for_reading(event.meta.key_id for event in wanted if event.meta.key_id is not None)
    for event in wanted:
        _evidence_add(evidence[event.meta.stream_id], rules, decrypt(event))


def _memberships_update(
    subjects: list[uuid.UUID], rules: _Rules, evidence: dict[uuid.UUID, Evidence], now: datetime
) -> int:
    every_purpose = sorted({p for keys_ in rules.purposes.values() for p in keys_})
    decisions = decide_many([(s, p) for s in subjects for p in every_purpose], now)
    fields: dict[uuid.UUID, list[RuleField]] = defaultdict(list)
    for subject, field in store.rule_fields(subjects, every_purpose):
        fields[subject].append(field)
    current = store.memberships_locked(subjects)
    # people an officer's human review took out of a segment (Art. 22(3)) never meet its rule again
    excluded = set(
        SegmentExclusion.objects.filter(subject_id__in=subjects).values_list("subject_id", "segment_id")
    )
    changes: dict[str, list[tuple[uuid.UUID, bool]]] = defaultdict(list)
    joining: list[SegmentMembership] = []
    leaving: list[int] = []
    extended: list[tuple[int, datetime | None]] = []
    for subject in subjects:
        for segment in rules.segments:
            keys_ = rules.purposes[segment.pk]
            verdict = Verdict(False)
            if (subject, segment.pk) not in excluded and all(decisions[(subject, p)].allowed for p in keys_):
                facts = _facts(evidence[subject], fields[subject], segment.pk, keys_)
                verdict = matches(segment.condition, facts, now)
            membership = current.get((subject, segment.pk))
            if verdict.member and membership is None:
                joining.append(
                    SegmentMembership(segment=segment, subject_id=subject, since=now, until=verdict.until)
                )
                changes[segment.pk].append((subject, True))
            elif not verdict.member and membership is not None:
                leaving.append(membership[0])
                changes[segment.pk].append((subject, False))
            elif membership is not None and membership[1] != verdict.until:
                # a newer hit keeps the member longer
                extended.append((membership[0], verdict.until))
    SegmentMembership.objects.bulk_create(joining)
    store.memberships_extend(extended)
    SegmentMembership.objects.filter(pk__in=leaving).delete()
    _record(rules.segments, changes, now)
    return sum(len(c) for c in changes.values())


def _record(segments: list[Segment], changes: dict[str, list[tuple[uuid.UUID, bool]]], now: datetime) -> None:
    """Every join and leave on the ledger: one append per segment (its key is the source)."""
    for segment in segments:
        if changes.get(segment.pk):
            ledger_append(
                events=[
                    NewEvent((SEGMENT_JOINED if joined else SEGMENT_LEFT).name, subject_id=subject,
                             purpose=segment.primary_purpose(), occurred_at=now)
                    for subject, joined in changes[segment.pk]
                ],
                actor=Actor.system(),
                source=f"segment:{segment.key}",
            )  # fmt: skip
    # and, in the same transaction, the services that may know them are told (sent after the commit)
    segment_changes_announce(segments=segments, changes=changes, occurred_at=now)


SEGMENT_INPUTS = ("collection.", "consent.", "keys.", "subject.", "identity.")
# events after which a cluster model's labels are checked against the consent they need
CLUSTER_INPUTS = ("consent.", "subject.", "parental_consent.")
# events after which a subject's evidence is rebuilt from the ledger, not added to: a shredded key
# makes events unreadable, an erasure or a merge changes whose events are whose
EVIDENCE_RESETS = ("keys.", "subject.", "identity.")


@transaction.atomic(durable=True)
def segments_project_pending(*, batch: int = 500, name: str = "segments", behind: str = PROJECTION) -> int:
    """The segments consumer: bring the subjects touched by the next committed ledger events up to date.

    Like the profile projector, it holds its consumer lock and saves its position in the same
    transaction as the evidence and memberships it changes, so events are never applied twice.
    It never reads past the position of the consumer `behind` (the profile projector): rules read
    the traits and scores it writes, so an event is evaluated only once the profile holds it. The
    two run in parallel (tasks/profiles.py); 0 means nothing new below that position, or that
    another worker holds this consumer's lock.
    """

    if not consumer_lock(name, wait=False):
        return 0
    # the projector's position first: whatever is read after it (profile fields) is at least as new
    limit = position_get(behind)
    if limit is None:
        return 0
    events = _not_after(ledger_read_after(after=position_get(name), limit=batch), limit)
    if not events:
        return 0
    touched = {e.meta.stream_id for e in events if e.meta.event_type.startswith(SEGMENT_INPUTS)}
    resets = {e.meta.stream_id for e in events if e.meta.event_type.startswith(EVIDENCE_RESETS)}
    now = timezone.now()
    _refresh(subject_ids=touched, now=now, rebuild=resets, new_events=events)
    # a cluster model's label goes with the consent it needed (retraining would be too late)
    consent_changed = {e.meta.stream_id for e in events if e.meta.event_type.startswith(CLUSTER_INPUTS)}
    clusters_consent_check(subject_ids=consent_changed, now=now)
    position_save(name, events[-1].position)
    return len(events)


def _not_after(events: list[StoredEvent], limit: Position) -> list[StoredEvent]:
    """The events (in ledger order) up to and including position `limit`: a prefix."""
    end = (limit.xid, limit.seq)
    kept = 0
    while kept < len(events) and (events[kept].position.xid, events[kept].position.seq) <= end:
        kept += 1
    return events[:kept]


FILL_PAGE = 500


@transaction.atomic(durable=True)
def segments_fill_pending(*, page: int = FILL_PAGE, now: datetime | None = None) -> int:
    """Fill segments whose rule is new, changed or reactivated, one page of subjects per call
    (run after the consumer).

    Without this a new segment would gain members only as their next events arrive; with it,
    every subject with collected events of the segment's purposes in its window (or, for a rule
    of traits and scores only, with profile fields of those purposes), and every current member,
    is evaluated once, its evidence rebuilt from the ledger. A rule changed mid-fill starts over;
    a deactivated segment is filled again when it comes back. Returns how many subjects this
    call evaluated (0: nothing to fill, or another worker is filling).
    """

    if not consumer_lock("segments:fill", wait=False):
        return 0
    now = now or timezone.now()
    # while a segment is inactive nothing keeps it true: fill it again when it is reactivated
    Segment.objects.filter(active=False).exclude(fill_version="").update(
        fill_version="", fill_after=None, filled=False
    )
    rules = _Rules.load()
    for segment in rules.segments:
        version = rules.versions[segment.pk]
        if segment.fill_version == version and segment.filled:
            continue
        if segment.fill_version != version:
            segment.fill_version, segment.fill_after, segment.filled = version, None, False
        subjects = _subjects_to_fill(
            segment, rules.purposes[segment.pk], after=segment.fill_after, limit=page, now=now
        )
        if subjects:
            _refresh(subject_ids=subjects, now=now, rebuild_all=True)
            segment.fill_after = subjects[-1]
        segment.filled = len(subjects) < page
        segment.save(update_fields=["fill_version", "fill_after", "filled"])
        return len(subjects) or 1  # 1: a fill finished with an empty page, look again
    return 0


def segment_fill_state(segment: Segment) -> str:
    """In words, for officers: has every subject with data in the window met the current rule?"""
    if not segment.active:
        return "inactive"
    current = segment.fill_version == _version(segment.condition, segment.purpose_keys())
    return "all subjects in the window" if current and segment.filled else "filling (new or changed rule)"


def _subjects_to_fill(
    segment: Segment, purposes: list[str], *, after: uuid.UUID | None, limit: int, now: datetime
) -> list[uuid.UUID]:
    """The next page (in subject order) of the subjects a fill evaluates: those with data the
    rule may look at, and the current members (whose data may have gone since)."""
    window = longest_window(segment.condition)
    if window:
        with_data = ledger_streams_since(
            recorded_since=now - timedelta(minutes=window + 1),
            type_prefix="collection.",
            purposes=purposes,
            after=after,
            limit=limit,
        )
    else:
        fields = ProfileField.objects.filter(purpose__in=purposes)
        if after is not None:
            fields = fields.filter(subject_id__gt=after)
        with_data = list(
            fields.order_by("subject_id").values_list("subject_id", flat=True).distinct()[:limit]
        )
    members = SegmentMembership.objects.filter(segment=segment)
    if after is not None:
        members = members.filter(subject_id__gt=after)
    current = list(members.order_by("subject_id").values_list("subject_id", flat=True)[:limit])
    return sorted(set(with_data) | set(current))[
        :limit
    ]  # both pages start after `after`: merged, still in order


@transaction.atomic
def segments_expire(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Re-evaluate, from stored evidence, the subjects for whom time alone may change a verdict
    (run by beat): members whose window has closed, and subjects one of whose hits has aged out
    (a `not` condition may now hold) or come due (an event a client dated in the future)."""
    now = now or timezone.now()
    members = SegmentMembership.objects.filter(until__lte=now).values_list("subject_id", flat=True)
    rechecks = SegmentEvidence.objects.filter(recheck_at__lte=now).order_by("recheck_at")
    due = set(members.order_by("until")[:limit]) | set(rechecks.values_list("subject_id", flat=True)[:limit])
    return _refresh(subject_ids=due, now=now)


def consented_members(
    *,
    segment: Segment,
    after: str | None,
    limit: int,
    service_id: uuid.UUID | None = None,
    label: int | None = None,
) -> tuple[list[uuid.UUID], uuid.UUID | None]:
    """A page of members (by subject id) who consent right now to every purpose the segment uses;
    with `label`, only the members of that cluster of a cluster model.

    With `service_id`, the disclosure of each member's membership is recorded — one ledger
    append for the whole page, not one transaction per member.
    """

    rows = SegmentMembership.objects.filter(segment_id=segment.pk).order_by("subject_id")
    if label is not None:
        rows = rows.filter(label=label)
    if after:
        try:
            rows = rows.filter(subject_id__gt=uuid.UUID(after))
        except ValueError:
            raise InvalidIdentifier("after must be a subject id.", field="after") from None
    # the page of members may come from the read replica (hub/db_router.py); the consent gate,
    # the opt-out and the disclosure record below stay on the primary
    ids = replica_read(lambda alias: list(rows.using(alias).values_list("subject_id", flat=True)[:limit]))
    purposes = segment.purpose_keys()
    members = [s for s in ids if all(decide(s, p).allowed for p in purposes)]
    if service_id is not None and members:
        # CCPA: a third party hears nothing of people who opted out of sale/sharing
        service = Service.objects.get(pk=service_id)
        withheld = sale_share_withheld(service=service, subject_ids=members)
        members = [member for member in members if member not in withheld]
    if service_id is not None and members:
        ledger_append(
            events=[
                NewEvent(
                    DISCLOSED.name, subject_id=member, purpose=purpose, data_categories=("user.behavior",)
                )
                for member in members
                for purpose in purposes
            ],
            actor=Actor("service", str(service_id)),
        )
    return members, ids[-1] if len(ids) == limit else None
