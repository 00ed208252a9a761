"""RFM scores: quintiles of the programme's customers that never split equal values.

The definition, used by both paths (SQL on PostgreSQL, Python on SQLite):

    score = 6 - ceil(5 * cume_dist), customers ordered best first
          = 1 + floor(5 * share of customers with a strictly worse value)

where `cume_dist` is the share of the population whose value is as good as the
customer's or better (their own and their ties included). So a score of k means
that at least (k - 1) fifths of the population do strictly worse. Equal raw
values always get the same score, and a large group of equal values takes the
score of where the group *starts*: when 60 % of customers bought exactly once in
the window, they all get F = 1 (the textbook "new customers" cell), not the 3 a
plain `ceil(5 * cume_dist)` in ascending order would give them. The best value
gets 5 unless more than a fifth of the population share it; the worst value
always gets 1 (so when everybody ties, everybody gets 1).

It is computed in integers, `6 - (5 * as_good + n - 1) // n`, with `as_good`
the count of customers at least as good and `n` the population, so that no
floating point rounding can move a customer across a boundary, and both
databases and Python give exactly the same scores.

The populations:
- R: every customer (an active member with at least one purchase that counts);
  better is fewer days since the last purchase.
- F and M: the customers with at least one purchase in the RFM window; better is
  more purchases / more net spend. A customer whose purchases are all older than
  the window has frequency 0 and monetary 0, and gets F = 1 and M = 1: the lowest
  scores, without weighing on the quintiles of those who did buy.
- A member with no purchase gets no score at all (NULL, not 1).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Mapping

QUINTILES = 5


def quintile_score(*, as_good: int, population: int) -> int:
    """6 - ceil(5 * as_good / population), in integers (see the module docstring)."""
    if not 0 < as_good <= population:
        raise ValueError("as_good must be within 1..population")
    return QUINTILES + 1 - (QUINTILES * as_good + population - 1) // population


def scores(values: Mapping[Hashable, object], *, higher_is_better: bool) -> dict:
    """Score each key's value against all the values given (its population)."""
    ordered = sorted(values.values())
    population = len(ordered)
    result = {}
    for key, value in values.items():
        if higher_is_better:
            as_good = population - bisect_left(ordered, value)
        else:
            as_good = bisect_right(ordered, value)
        result[key] = quintile_score(as_good=as_good, population=population)
    return result


def score_sql(column: str, *, higher_is_better: bool, partition: str = "") -> str:
    """The same score as a window expression over the rows of the query."""
    order = "DESC" if higher_is_better else "ASC"
    over = f"PARTITION BY {partition}" if partition else ""
    population = f"COUNT(*) OVER ({over})"
    as_good = f"COUNT(*) OVER ({over} ORDER BY {column} {order})"
    # ORDER BY in a window frames up to the current row *and its peers*: ties count as
    # "as good", which is what makes equal values equal scores.
    return (f"({QUINTILES + 1} - ({QUINTILES} * {as_good} + {population} - 1) "
            f"/ {population})")
