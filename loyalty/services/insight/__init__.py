"""Insight: who the customers are. RFM scores, segments, lifecycle stages, lifetime value.

`run_insight` (run.py) is the nightly computation; its steps live in stats.py (figures
and RFM scores, rfm.py for the score definition), clv.py (lifetime value), stages.py,
segments.py and snapshots.py. figures.py holds the read side for pages and the API.
"""

from loyalty.services.insight.run import InsightRunning, run_insight

__all__ = ["InsightRunning", "run_insight"]
