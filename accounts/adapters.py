from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Site-wide account behaviour. Linking to members happens on email confirmation."""
