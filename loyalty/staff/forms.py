"""The till's forms: they check shape (a number, an amount); the services check the rules."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.services.messaging.rules import frequency_promise


def new_reference(prefix: str) -> str:
    """A fresh id drawn when a form is shown, so that the form sent twice acts once."""
    return f"{prefix}-{uuid.uuid4().hex}"


def normalise_amount(value) -> str:
    """An amount as a till types it, in any language: "42,50", "42.50", "1 234,50",
    "1,234.50", "1.234,50". The last separator followed by one or two digits is the
    decimal one; the others group thousands. Anything else ("1,234": a thousand, or a
    slip?) is left for the field to refuse rather than guessed."""
    text = "".join(str(value or "").split()).replace("'", "")
    last = max(text.rfind(","), text.rfind("."))
    if last >= 0 and len(text) - last - 1 in (1, 2):
        whole, decimals = text[:last], text[last + 1:]
        return whole.replace(",", "").replace(".", "") + "." + decimals
    return text


class TillAmountField(forms.DecimalField):
    """A decimal field that takes the decimal comma (and grouped thousands) whatever the
    cashier's language: parsed here, on the server, not only by the page's script."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        return super().to_python(normalise_amount(value))


class LookupForm(forms.Form):
    code = forms.CharField(
        label=_("Card, voucher code, email, phone or name"), max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "off",
                                      "spellcheck": "false", "enterkeyhint": "search",
                                      "autofocus": True}))


class MemberForm(forms.Form):
    member = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class PurchaseForm(MemberForm):
    amount = TillAmountField(
        label=_("Amount"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
    receipt = forms.CharField(
        label=_("Receipt number (optional)"), max_length=100, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}))
    order_id = forms.CharField(max_length=100, widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

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
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class VoucherForm(MemberForm):
    voucher = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    order_id = forms.CharField(max_length=100, widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class UndoVoucherForm(MemberForm):
    voucher = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class ReceiptForm(forms.Form):
    receipt = forms.CharField(
        label=_("Receipt number"), max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}))


class RefundForm(MemberForm):
    purchase = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    refund_id = forms.CharField(max_length=100, widget=forms.HiddenInput)
    amount = TillAmountField(
        label=_("Amount to refund"), max_digits=12, decimal_places=2,
        min_value=Decimal("0.01"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))


class PickForm(forms.Form):
    pick = forms.IntegerField(min_value=1)


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
    email_marketing = forms.BooleanField(
        label=_("The customer agrees to receive offers by email"), required=False)
    sms_marketing = forms.BooleanField(
        label=_("The customer agrees to receive offers by SMS"), required=False,
        help_text=_("Ask them: they can stop them from their profile."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The promise is the caps' own numbers, in the cashier's language.
        self.fields["email_marketing"].help_text = _(
            "Ask them: offers and news of the programme (%(frequency)s). They can stop them "
            "from any email or their profile.") % {"frequency": frequency_promise()}

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
