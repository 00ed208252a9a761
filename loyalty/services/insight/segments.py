"""Segments: the managers' rules, evaluated in priority order, one segment per member.

The active segments' rules become one SQL `CASE WHEN <rule> THEN <segment id> ...
ELSE NULL END`, tried from the lowest priority number up, with every value a
parameter. A rule's conditions all have to hold; an empty condition holds for
anybody:
- R, F, M from/to: inclusive bounds on the scores (a member without scores, who
  has no purchase, fails any of them);
- stages: the member's lifecycle stage, as computed by this same run;
- tiers: the member's current tier (a member without a tier fails a tier list);
- predicted value from/to: inclusive, on the lifetime value (a member without a
  prediction fails any bound);
- days since joining from/to: inclusive, whole local days since the member
  joined the programme (Member.created_at).

As for stages, the members whose segment changes are gathered first in a
temporary table (old and new segment); the UPDATE, the SegmentPeriod history
(the open period closed, a new one opened: entered / left) and the
`member.segment_changed` webhooks are written for them alone. `segment_since`
moves only when the segment changes, and is empty without a segment.
"""

# ruff: noqa: S608 - SQL built from model table names and fixed fragments; values are parameters

from __future__ import annotations

from loyalty.models import (
    Member,
    MemberInsight,
    Segment,
    SegmentPeriod,
    SegmentRule,
    WebhookEvent,
)
from loyalty.services import webhooks
from loyalty.services.insight import sql
from loyalty.services.insight.clock import Clock

CHUNK = 500


def active_rules() -> list[SegmentRule]:
    return list(SegmentRule.objects.filter(segment__active=True).select_related("segment")
                .prefetch_related("tiers").order_by("priority", "id"))


def rule_condition(rule: SegmentRule, *, clock: Clock) -> tuple[str, list]:
    """One rule as SQL over a MemberInsight row `i` and its Member `mb`, with parameters."""
    parts, params = [], []
    for column, low, high in (("i.r", rule.r_min, rule.r_max), ("i.f", rule.f_min, rule.f_max),
                              ("i.m", rule.m_min, rule.m_max),
                              ("i.predicted_value", rule.predicted_value_min,
                               rule.predicted_value_max)):
        if low is not None:
            parts.append(f"{column} >= %s")
            params.append(low)
        if high is not None:
            parts.append(f"{column} <= %s")
            params.append(high)
    if rule.stages:
        parts.append(f"i.stage IN ({', '.join(['%s'] * len(rule.stages))})")
        params.extend(str(stage) for stage in rule.stages)
    tiers = sorted(tier.pk for tier in rule.tiers.all())
    if tiers:
        parts.append(f"mb.tier_id IN ({', '.join(['%s'] * len(tiers))})")
        params.extend(tiers)
    # Whole local days since joining, as bounds on the joining time:
    # days >= n  <=>  joined before the start of day (today - n + 1);
    # days <= n  <=>  joined at or after the start of day (today - n).
    if rule.joined_days_min is not None:
        parts.append("mb.created_at < %s")
        params.append(clock.days_ago(rule.joined_days_min - 1))
    if rule.joined_days_max is not None:
        parts.append("mb.created_at >= %s")
        params.append(clock.days_ago(rule.joined_days_max))
    return (" AND ".join(parts) or "1 = 1"), params


def segment_case(rules: list[SegmentRule], *, clock: Clock) -> tuple[str, list]:
    """The CASE giving a member's segment id (NULL for none), and its parameters."""
    if not rules:
        return "CAST(NULL AS INTEGER)", []
    branches, params = [], []
    for rule in rules:
        condition, condition_params = rule_condition(rule, clock=clock)
        branches.append(f"WHEN {condition} THEN %s")
        params.extend([*condition_params, rule.segment_id])
    return f"CASE {' '.join(branches)} ELSE NULL END", params


def assign(*, clock: Clock, notify: bool = True) -> int:
    """Put every member in their segment; record and announce the changes (how many)."""
    insight, period = sql.table(MemberInsight), sql.table(SegmentPeriod)
    case, params = segment_case(active_rules(), clock=clock)
    select = f"""
        SELECT member_id, old_segment_id, new_segment_id FROM (
            SELECT i.member_id, i.segment_id AS old_segment_id, i.segment_since,
                   {case} AS new_segment_id
            FROM {insight} i JOIN {sql.table(Member)} mb ON mb.id = i.member_id
        ) c
        WHERE {sql.differs("new_segment_id", "old_segment_id")}
           OR (new_segment_id IS NOT NULL AND segment_since IS NULL)
           OR (new_segment_id IS NULL AND segment_since IS NOT NULL)"""
    with sql.temp_table("insight_segment_change", select, params) as changes:
        changed = sql.fetch_value(f"SELECT COUNT(*) FROM {changes}")
        if not changed:
            return 0
        sql.execute(f"UPDATE {insight} SET segment_id = c.new_segment_id, segment_since = "
                    f"CASE WHEN c.new_segment_id IS NULL THEN NULL "
                    f"ELSE {sql.timestamp_param()} END "
                    f"FROM {changes} c WHERE c.member_id = {insight}.member_id", [clock.now])
        sql.execute(f"UPDATE {period} SET left_at = %s WHERE left_at IS NULL "
                    f"AND member_id IN (SELECT member_id FROM {changes})", [clock.now])
        before = sql.fetch_value(f"SELECT COALESCE(MAX(id), 0) FROM {period}")
        sql.execute(f"INSERT INTO {period} (member_id, segment_id, entered_at, left_at) "
                    f"SELECT member_id, new_segment_id, %s, NULL FROM {changes} "
                    f"WHERE new_segment_id IS NOT NULL", [clock.now])
        if notify and webhooks.subscribers(WebhookEvent.MEMBER_SEGMENT_CHANGED):
            _notify(changes=changes, period=period, after_id=before, clock=clock)
    return changed


def _notify(*, changes: str, period: str, after_id: int, clock: Clock) -> None:
    codes = dict(Segment.objects.values_list("pk", "code"))
    rows = sql.stream(f"""
        SELECT c.member_id, mb.card_number, c.old_segment_id, c.new_segment_id,
               (SELECT MAX(p.id) FROM {period} p
                WHERE p.member_id = c.member_id AND p.id > %s) AS entered,
               (SELECT MAX(p.id) FROM {period} p
                WHERE p.member_id = c.member_id AND p.id <= %s) AS left_period
        FROM {changes} c JOIN {sql.table(Member)} mb ON mb.id = c.member_id
        WHERE {sql.differs("c.old_segment_id", "c.new_segment_id")}
        ORDER BY c.member_id""", [after_id, after_id], chunk=CHUNK)
    for chunk in rows:
        payloads = {}
        for member_id, card_number, old, new, entered, left_period in chunk:
            key = (f"segment:{member_id}:{entered}" if entered is not None
                   else f"segment:{member_id}:left:{left_period}")
            payloads[key] = {"member_id": member_id, "card_number": card_number,
                             "from": codes.get(old), "to": codes.get(new), "at": clock.now}
        webhooks.emit_many(event=WebhookEvent.MEMBER_SEGMENT_CHANGED, now=clock.now,
                           payloads=payloads)
