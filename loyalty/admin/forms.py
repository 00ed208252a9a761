"""Forms of the loyalty admin. They check shape; the services check the rules."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from loyalty.admin.base import add_domain_error
from loyalty.models import Member, Store
from loyalty.services import members as member_services
from loyalty.services.errors import DomainError, Invalid
from loyalty.services.ledger import MAX_POINTS_PER_ENTRY


def _not_zero(value):
    if value == 0:
        raise ValidationError(_("Give a number of points other than zero."), code="zero")


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        validators=[_not_zero, MinValueValidator(-MAX_POINTS_PER_ENTRY),
                    MaxValueValidator(MAX_POINTS_PER_ENTRY)],
        help_text=_("Positive to credit, negative to debit. Debits need the spendable "
                    "balance."))
    reason = forms.CharField(
        label=_("Reason"), max_length=255,
        help_text=_("Kept in the ledger with your name, e.g. “Goodwill after complaint 123”."))


class MergeMembersForm(forms.Form):
    survivor = forms.TypedChoiceField(
        label=_("Member to keep"), coerce=int, widget=forms.RadioSelect,
        help_text=_("The other member is closed and everything it held moves to this one."))
    reason = forms.CharField(label=_("Reason"), max_length=200,
                             help_text=_("Why they are the same person."))

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [(member.pk, str(member)) for member in members]


def _normalised(function, value, field: str):
    try:
        return function(value)
    except Invalid as error:
        raise ValidationError(str(error.fields.get(field, error.message))) from None


class MemberChangeForm(forms.ModelForm):
    """Edits a member's own data; points, tier, consents and status have their services."""

    class Meta:
        model = Member
        fields = ("first_name", "last_name", "email", "phone", "birth_date", "language",
                  "user", "referred_by")

    def clean_email(self):
        return _normalised(member_services.normalise_email, self.cleaned_data.get("email"),
                           "email")

    def clean_phone(self):
        return _normalised(member_services.normalise_phone, self.cleaned_data.get("phone"),
                           "phone")


class MemberAddForm(forms.ModelForm):
    """Enrols a member through `create_member`, so the member gets a card like anyone else."""

    external_id = forms.CharField(label=_("External id"), max_length=100, required=False,
                                  help_text=_("A customer id in the store's own system."))
    store = forms.ModelChoiceField(
        label=_("Enrolling store"), queryset=Store.objects.all(), required=False,
        help_text=_("Needed with an external id; recorded on the new card."))

    class Meta:
        model = Member
        fields = ("first_name", "last_name", "email", "phone", "birth_date", "language",
                  "user", "referred_by")

    def clean_user(self):
        user = self.cleaned_data.get("user")
        if user is not None and Member.objects.filter(user=user).exists():
            raise ValidationError(_("This account already belongs to a member."))
        return user

    def _post_clean(self):
        # No Member is built from the form: the service validates and enrols. The admin
        # runs the add view in a transaction, so nothing stays behind if a later step fails.
        if self.errors:
            return
        data = self.cleaned_data
        try:
            self.instance = member_services.create_member(
                email=data.get("email", ""), phone=data.get("phone", ""),
                first_name=data.get("first_name", ""), last_name=data.get("last_name", ""),
                birth_date=data.get("birth_date"), language=data.get("language", ""),
                user=data.get("user"), referred_by=data.get("referred_by"),
                external_id=data.get("external_id", ""), store=data.get("store"))
        except DomainError as error:
            add_domain_error(self, error)


class WeekdaysField(forms.MultipleChoiceField):
    """The rules' weekdays ("67": Saturday and Sunday) as one checkbox per day; none ticked
    is every day, as an empty string always was."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.pop("max_length", None)
        kwargs.pop("empty_value", None)
        kwargs["required"] = False
        kwargs["choices"] = [(str(number), name) for number, name in
                             ((day + 1, WEEKDAYS[day]) for day in range(7))]
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, str):
            return list(value)
        return value

    def clean(self, value):
        return "".join(sorted(set(super().clean(value))))
