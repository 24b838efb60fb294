"""Log in with a username or an e-mail address.

An invited person's username is made from their e-mail (``someone@example.com`` becomes
``someone``), and they remember the address they were invited with, so both work.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UsernameOrEmailBackend(ModelBackend):
    """The username first (as Django's own backend does); failing that, an e-mail address,
    compared case-insensitively. An address shared by several accounts logs nobody in: the
    password alone must never pick one of them."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None or "@" not in username:
            return None  # a plain username is ModelBackend's job (the next backend)
        users = list(get_user_model()._default_manager.filter(email__iexact=username.strip())[:2])
        if len(users) != 1:
            # Hash anyway, so an unknown or shared address takes as long as a known one.
            get_user_model()().set_password(password)
            return None
        user = users[0]
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
