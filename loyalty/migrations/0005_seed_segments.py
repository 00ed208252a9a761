"""The segments of the RFM method, as a starting point that managers edit in the admin.

Rules are tried by priority (lowest first); the first that matches gives the member's
segment. Together they cover every (R, F) cell, so every member with purchases gets one.
"""

from django.db import migrations

SEGMENTS = [
    # code, name, name_fr, description, description_fr, rules [(r, f, m)] as (min, max) pairs
    ("champions", "Champions", "Champions",
     "Bought recently, buy often and spend the most.",
     "Achats récents, fréquents, et les plus gros montants.",
     [((4, 5), (4, 5), (4, 5))]),
    ("loyal", "Loyal", "Fidèles",
     "Buy regularly and recently enough.",
     "Achètent régulièrement, et assez récemment.",
     [((3, 5), (3, 5), (None, None))]),
    ("new", "New customers", "Nouveaux clients",
     "One recent purchase: the second one is the hardest.",
     "Un seul achat, récent : le deuxième est le plus difficile.",
     [((4, 5), (1, 1), (None, None))]),
    ("promising", "Promising", "Prometteurs",
     "Recent and coming back: could become loyal.",
     "Récents et revenus : pourraient devenir fidèles.",
     [((4, 5), (2, 2), (None, None))]),
    ("need_attention", "Need attention", "À surveiller",
     "Neither recent nor frequent: a nudge now keeps them.",
     "Ni récents ni fréquents : une attention maintenant les retient.",
     [((3, 3), (1, 2), (None, None))]),
    ("at_risk", "At risk", "À risque",
     "Good customers who have not come back for a while.",
     "De bons clients qui ne sont pas revenus depuis un moment.",
     [((1, 2), (3, 5), (None, None)), ((1, 2), (None, None), (4, 5))]),
    ("lost", "Lost", "Perdus",
     "Bought little, long ago.",
     "Peu d'achats, il y a longtemps.",
     [((1, 1), (1, 2), (None, None))]),
    ("hibernating", "Hibernating", "En sommeil",
     "Few purchases and not for a while.",
     "Peu d'achats, et pas depuis un moment.",
     [((2, 2), (1, 2), (None, None))]),
]


def seed(apps, schema_editor):
    Segment = apps.get_model("loyalty", "Segment")
    SegmentRule = apps.get_model("loyalty", "SegmentRule")
    if Segment.objects.exists():
        return
    priority = 10
    for code, name, name_fr, description, description_fr, rules in SEGMENTS:
        segment = Segment.objects.create(code=code, name=name, name_fr=name_fr,
                                         description=description,
                                         description_fr=description_fr)
        for (r_min, r_max), (f_min, f_max), (m_min, m_max) in rules:
            SegmentRule.objects.create(segment=segment, priority=priority, r_min=r_min,
                                       r_max=r_max, f_min=f_min, f_max=f_max, m_min=m_min,
                                       m_max=m_max)
            priority += 10


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0004_insight_and_imports")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
