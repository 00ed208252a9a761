"""Staff-typed texts that members read, one column per language (django-modeltranslation).

One mechanism for every model: `tier.name` reads the active language's column
(`name_en`, `name_fr`) and falls back to English when the translation is empty
(settings.MODELTRANSLATION_FALLBACK_LANGUAGES). English is the language staff must fill.
Campaign and journey messages keep their own per-language subject and text.
"""

from modeltranslation.translator import TranslationOptions, register

from loyalty.models import ActionRule, EarningRule, Multiplier, Programme, Segment, Tier


class NameTranslation(TranslationOptions):
    fields = ("name",)
    required_languages = {"en": ("name",)}
    empty_values = ""


@register(Tier)
class TierTranslation(TranslationOptions):
    fields = ("name", "benefits")
    required_languages = {"en": ("name",)}
    empty_values = ""


@register(EarningRule)
class EarningRuleTranslation(NameTranslation):
    pass


@register(Multiplier)
class MultiplierTranslation(NameTranslation):
    pass


@register(ActionRule)
class ActionRuleTranslation(NameTranslation):
    pass


@register(Segment)
class SegmentTranslation(TranslationOptions):
    fields = ("name", "description")
    required_languages = {"en": ("name",)}
    empty_values = ""


@register(Programme)
class ProgrammeTranslation(TranslationOptions):
    # The brand's words: "Club Maison" and "étoiles" for French readers.
    fields = ("name", "point_name", "point_name_plural")
    required_languages = {"en": ("name",)}
    empty_values = ""
