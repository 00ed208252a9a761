"""The reward texts members read, one column per language (django-modeltranslation).

`reward.name` reads the active language's column, falling back to English when the
French one is empty; `name_en` / `name_fr` are the columns themselves.
"""

from modeltranslation.translator import TranslationOptions, register

from rewards.models import Reward


@register(Reward)
class RewardTranslation(TranslationOptions):
    fields = ("name", "description")
    required_languages = {"en": ("name",)}
    empty_values = ""
