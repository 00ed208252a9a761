"""allauth's sign-up form, made to take the same work whether the email has an account."""

from allauth.account.forms import SignupForm as AllauthSignupForm
from django.contrib.auth.hashers import make_password


class SignupForm(AllauthSignupForm):
    def try_save(self, request):
        # allauth creates nothing for an email that has an account (it mails its owner
        # instead): hash the password all the same, or the answer's speed tells which.
        if self.account_already_exists:
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)
