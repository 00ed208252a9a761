"""The customer portal's forms: shape only; the rules live in the services."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from loyalty.models import PointsEntry


class HistoryFilter(forms.Form):
    kind = forms.ChoiceField(label=_("Show"), required=False,
                             choices=[("", _("Everything"))] + list(PointsEntry.Kind.choices))


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False,
                                 widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    phone = forms.CharField(label=_("Mobile phone"), max_length=30, required=False,
                            help_text=_("For example +33 6 12 34 56 78."),
                            widget=forms.TextInput(attrs={"autocomplete": "tel",
                                                          "inputmode": "tel"}))
    birth_date = forms.DateField(label=_("Birth date"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date",
                                                               "autocomplete": "bday"},
                                                        format="%Y-%m-%d"))
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    email_marketing = forms.BooleanField(label=_("Send me offers by email"), required=False)
    sms_marketing = forms.BooleanField(label=_("Send me offers by SMS"), required=False)


class DeleteAccountForm(forms.Form):
    password = forms.CharField(label=_("Your password"), strip=False,
                               widget=forms.PasswordInput(
                                   attrs={"autocomplete": "current-password"}))
    confirm = forms.BooleanField(
        label=_("I understand: my account, my points and my vouchers will be gone for good."),
        required=True)


RATING_CHOICES = [
    (1, _("1 out of 5: very poor")),
    (2, _("2 out of 5: poor")),
    (3, _("3 out of 5: fair")),
    (4, _("4 out of 5: good")),
    (5, _("5 out of 5: excellent")),
]


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(label=_("Your rating"), choices=RATING_CHOICES, coerce=int,
                                    widget=forms.RadioSelect,
                                    error_messages={"required": _("Choose a rating.")})
    comment = forms.CharField(label=_("Your comment (optional)"), required=False,
                              max_length=2000,
                              help_text=_("What went well, what could be better: at most "
                                          "2,000 characters."),
                              widget=forms.Textarea(attrs={"rows": 5, "maxlength": 2000}))


class ClaimForm(forms.Form):
    code = forms.CharField(
        label=_("Receipt code"), max_length=40, strip=True,
        help_text=_("The 12 characters printed under the QR code on your receipt, for "
                    "example K7QM-3XTR-9BWD."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters",
                                      "spellcheck": "false", "autofocus": True}))
