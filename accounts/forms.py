"""allauth's sign-up form: the first name (a new member is greeted by it), the birth date
with its reason and the marketing consents, each explained; made to take the same work
whether the email has an account."""

from datetime import date

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import ActionRule
from loyalty.services.messaging.rules import frequency_promise

BIRTHDAY = "birthday"


class SignupForm(AllauthSignupForm):
    first_name = forms.CharField(
        label=_("First name"), max_length=100,
        help_text=_("So that we greet you by your name."),
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    birth_date = forms.DateField(
        label=_("Birth date (optional)"), required=False,
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"},
                               format="%Y-%m-%d"))
    email_marketing = forms.BooleanField(label=_("Send me offers by email"), required=False)
    sms_marketing = forms.BooleanField(label=_("Send me offers by SMS"), required=False)

    field_order = ["first_name", "email", "password1", "password2", "birth_date",
                   "email_marketing", "sms_marketing"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The promise is the caps' own numbers, in the reader's language.
        frequency = frequency_promise()
        self.fields["email_marketing"].help_text = _(
            "Member offers and news (%(frequency)s). You can stop them at any time from your "
            "profile or any email.") % {"frequency": frequency}
        self.fields["sms_marketing"].help_text = _(
            "Short reminders of offers (%(frequency)s). Add your mobile number in your "
            "profile; stop them at any time.") % {"frequency": frequency}
        rule = ActionRule.objects.filter(event_type=BIRTHDAY, active=True).first()
        if rule is not None:
            self.fields["birth_date"].help_text = _(
                "For your birthday present: %(points)s points on your card every year. "
                "Only the day and month are used for that.") % {"points": rule.points}
        else:
            self.fields["birth_date"].help_text = _(
                "For a birthday present. Only the day and month are used for that.")

    def clean_first_name(self):
        first_name = " ".join(self.cleaned_data["first_name"].split())
        if not first_name:
            raise forms.ValidationError(_("Enter your first name."), code="required")
        return first_name

    def clean_birth_date(self):
        birth_date = self.cleaned_data.get("birth_date")
        if birth_date is not None and not (date(1900, 1, 1) <= birth_date
                                           <= timezone.localdate()):
            raise forms.ValidationError(_("Enter your real birth date, or leave it empty."),
                                        code="invalid")
        return birth_date

    def custom_signup(self, request, user):
        """Keep the answers on the login until the email is confirmed: only then does the
        login become a member (accounts.services.link_user_to_member applies them)."""
        data = self.cleaned_data
        birth_date = data.get("birth_date")
        user.first_name = data["first_name"]
        user.signup_answers = {
            "birth_date": birth_date.isoformat() if birth_date else None,
            "email_marketing": bool(data.get("email_marketing")),
            "sms_marketing": bool(data.get("sms_marketing")),
            "at": timezone.now().isoformat(),
        }
        user.save(update_fields=["first_name", "signup_answers"])

    def try_save(self, request):
        # allauth creates nothing for an email that has an account (it mails its owner
        # instead): hash the password all the same, or the answer's speed tells which.
        if self.account_already_exists:
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)
