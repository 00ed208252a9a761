"""The till's forms: they check shape (a number, an amount); the services check the rules."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _


def new_reference(prefix: str) -> str:
    """A fresh id drawn when a form is shown, so that the form sent twice acts once."""
    return f"{prefix}-{uuid.uuid4().hex}"


class LookupForm(forms.Form):
    code = forms.CharField(
        label=_("Card, voucher code, email or phone"), max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "off",
                                      "spellcheck": "false", "enterkeyhint": "search"}))


class MemberForm(forms.Form):
    member = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class PurchaseForm(MemberForm):
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"),
        localize=True,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
    receipt = forms.CharField(
        label=_("Receipt number (optional)"), max_length=100, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}))
    order_id = forms.CharField(max_length=100, widget=forms.HiddenInput)

    def __init__(self, *args, currency: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if currency:
            self.fields["amount"].label = _("Amount (%(currency)s)") % {"currency": currency}

    def order_reference(self) -> str:
        """The receipt number when typed (a retry with it credits once), else the drawn id."""
        return self.cleaned_data["receipt"].strip() or self.cleaned_data["order_id"]


class RewardForm(MemberForm):
    reward = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    redemption_id = forms.CharField(max_length=100, widget=forms.HiddenInput)


class VoucherForm(MemberForm):
    voucher = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    order_id = forms.CharField(max_length=100, widget=forms.HiddenInput)


class BlockCardForm(MemberForm):
    card = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class LinkCardForm(MemberForm):
    number = forms.CharField(
        label=_("Number of the plastic card"), max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))


class IssueCardForm(forms.Form):
    number = forms.CharField(
        label=_("Number of the plastic card"), max_length=20, required=False,
        help_text=_("Leave empty to draw a new number."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False,
                            widget=forms.TextInput(attrs={"type": "tel"}))
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)

    def clean(self):
        data = super().clean()
        if not (data.get("email") or data.get("phone")) and not self.errors:
            raise forms.ValidationError(
                _("Give the customer's email or phone: it finds them, or enrols them."))
        return data


class FollowUpForm(forms.Form):
    store = forms.SlugField(max_length=32, widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("Note (optional)"), max_length=2000, required=False,
        help_text=_("What was done: a call, an apology, a gesture."),
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 2000}))
