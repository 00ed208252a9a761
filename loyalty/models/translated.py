from django.utils import translation


class FrenchTextMixin:
    """Staff-typed text with a French version beside it (`name_fr`, `description_fr`):
    shown in French to a French reader when given, else as typed."""

    def _in_language(self, field: str) -> str:
        if translation.get_language() == "fr":
            french = getattr(self, f"{field}_fr", "")
            if french:
                return french
        return getattr(self, field)

    @property
    def display_name(self) -> str:
        return self._in_language("name")

    @property
    def display_description(self) -> str:
        return self._in_language("description")
