"""Lifecycle stages: where each member is in their life with the shop, and when they moved.

The rules, tried in this order (the first that holds gives the stage):
1. prospect: no purchase (that counts: see `stats`).
2. lapsed: no purchase for Programme.lapsed_after_days local days or more.
3. new: first purchase fewer than Programme.new_customer_days local days ago.
4. at_risk, when any of:
   - the lifetime value model was fitted and gives a probability of still being
     active below Programme.at_risk_p_alive;
   - one purchase only, and no longer new;
   - a repeat customer past their own usual gap: the time since their last
     purchase exceeds Programme.at_risk_gap_factor times their average time
     between purchases ((last - first) / (purchases - 1), exact times).
5. loyal: a repeat customer with F >= 4 and R >= 3 (buys more often than at least
   three fifths of the window's customers, and recently enough). Decided on the
   scores, not on segments, because segment rules may depend on the stage.
6. active: any other customer.
"new" comes before the at-risk rules, unlike in a plain reading of "new → active →
at risk": one or two gaps early in a customer's life are not a "usual" gap, and a
customer who bought twice in a week is not at risk five days later.

One UPDATE applies the stages: the members whose stage changes (or who have none
yet) are first gathered in a temporary table with their old and new stage, so the
history and the webhooks are written for the changes alone. `stage_since` moves
only when the stage changes; the history closes the open StagePeriod and opens a
new one; `member.stage_changed` is emitted in batches (see webhooks.emit_many).
"""

# ruff: noqa: S608 - SQL built from model table names and fixed fragments; values are parameters

from __future__ import annotations

from loyalty.models import Member, MemberInsight, Programme, Stage, StagePeriod, WebhookEvent
from loyalty.services import webhooks
from loyalty.services.insight import sql
from loyalty.services.insight.clock import Clock

LOYAL_MIN_F = 4
LOYAL_MIN_R = 3
CHUNK = 500


def stage_case(*, clock: Clock, programme: Programme) -> tuple[str, list]:
    """The CASE expression over a MemberInsight row `i` giving its stage, and its parameters."""
    since_last = sql.seconds_between("i.last_purchase_at", sql.timestamp_param())
    usual_span = sql.seconds_between("i.first_purchase_at", "i.last_purchase_at")
    case = f"""CASE
        WHEN i.purchases = 0 THEN '{Stage.PROSPECT.value}'
        WHEN i.recency_days >= %s THEN '{Stage.LAPSED.value}'
        WHEN i.first_purchase_at >= %s THEN '{Stage.NEW.value}'
        WHEN i.p_alive < %s THEN '{Stage.AT_RISK.value}'
        WHEN i.purchases = 1 THEN '{Stage.AT_RISK.value}'
        WHEN {since_last} * (i.purchases - 1) > %s * {usual_span} THEN '{Stage.AT_RISK.value}'
        WHEN i.f >= %s AND i.r >= %s THEN '{Stage.LOYAL.value}'
        ELSE '{Stage.ACTIVE.value}' END"""
    params = [programme.lapsed_after_days, clock.window_start(programme.new_customer_days),
              float(programme.at_risk_p_alive), clock.now, float(programme.at_risk_gap_factor),
              LOYAL_MIN_F, LOYAL_MIN_R]
    return case, params


def assign(*, clock: Clock, programme: Programme, notify: bool = True) -> int:
    """Stage every member; record and announce the changes. Returns how many changed."""
    insight, period = sql.table(MemberInsight), sql.table(StagePeriod)
    case, params = stage_case(clock=clock, programme=programme)
    select = f"""
        SELECT member_id, old_stage, new_stage FROM (
            SELECT i.member_id, i.stage AS stored, i.stage_since,
                   CASE WHEN i.stage_since IS NULL THEN NULL ELSE i.stage END AS old_stage,
                   {case} AS new_stage
            FROM {insight} i
        ) c
        WHERE new_stage <> stored OR stage_since IS NULL"""
    with sql.temp_table("insight_stage_change", select, params) as changes:
        changed = sql.fetch_value(f"SELECT COUNT(*) FROM {changes}")
        if not changed:
            return 0
        sql.execute(f"UPDATE {insight} SET stage = c.new_stage, stage_since = %s "
                    f"FROM {changes} c WHERE c.member_id = {insight}.member_id", [clock.now])
        sql.execute(f"UPDATE {period} SET left_at = %s WHERE left_at IS NULL "
                    f"AND member_id IN (SELECT member_id FROM {changes})", [clock.now])
        before = sql.fetch_value(f"SELECT COALESCE(MAX(id), 0) FROM {period}")
        sql.execute(f"INSERT INTO {period} (member_id, stage, entered_at, left_at) "
                    f"SELECT member_id, new_stage, %s, NULL FROM {changes}", [clock.now])
        if notify and webhooks.subscribers(WebhookEvent.MEMBER_STAGE_CHANGED):
            _notify(changes=changes, period=period, after_id=before, clock=clock)
    return changed


def _notify(*, changes: str, period: str, after_id: int, clock: Clock) -> None:
    rows = sql.stream(f"""
        SELECT p.id, p.member_id, mb.card_number, c.old_stage, c.new_stage
        FROM {period} p JOIN {changes} c ON c.member_id = p.member_id
        JOIN {sql.table(Member)} mb ON mb.id = p.member_id
        WHERE p.id > %s ORDER BY p.id""", [after_id], chunk=CHUNK)
    for chunk in rows:
        webhooks.emit_many(event=WebhookEvent.MEMBER_STAGE_CHANGED, now=clock.now, payloads={
            f"stage:{member_id}:{period_id}": {
                "member_id": member_id, "card_number": card_number, "from": old, "to": new,
                "at": clock.now}
            for period_id, member_id, card_number, old, new in chunk})
