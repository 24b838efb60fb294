"""Logging in with a username or an e-mail address (labeling/auth.py)."""

import pytest
from django.contrib.auth import authenticate
from factories import PASSWORD, UserFactory

from labeling.services.projects import membership_invite

pytestmark = pytest.mark.django_db


def test_an_invited_person_logs_in_with_the_email_they_were_invited_with(project):
    # given someone invited by e-mail, who then set a password
    membership, _ = membership_invite(
        project=project, identifier="someone@example.com", role="annotator"
    )
    user = membership.user
    user.set_password(PASSWORD)
    user.save()

    # when they log in with that address, in any case, or with the username it gave them
    # then it is them
    assert user.username == "someone"
    assert authenticate(username="someone@example.com", password=PASSWORD) == user
    assert authenticate(username="SomeOne@Example.COM", password=PASSWORD) == user
    assert authenticate(username="someone", password=PASSWORD) == user


def test_a_wrong_password_with_an_email_logs_nobody_in():
    UserFactory(username="erin", email="erin@example.com")

    assert authenticate(username="erin@example.com", password="not it") is None


def test_an_email_shared_by_two_accounts_logs_nobody_in():
    # given two accounts with the same address (e-mails are not unique in Django)
    UserFactory(username="sam1", email="sam@example.com")
    UserFactory(username="sam2", email="SAM@example.com")

    # then the address picks neither, even with the right password; the usernames still work
    assert authenticate(username="sam@example.com", password=PASSWORD) is None
    assert authenticate(username="sam2", password=PASSWORD).username == "sam2"


def test_an_inactive_account_is_not_logged_in_by_email():
    UserFactory(username="ina", email="ina@example.com", is_active=False)

    assert authenticate(username="ina@example.com", password=PASSWORD) is None


def test_the_login_form_logs_in_by_email_and_says_so(client):
    UserFactory(username="lena", email="lena@example.com")

    page = client.get("/login/").content.decode()
    response = client.post("/login/", {"username": "Lena@example.com", "password": PASSWORD})

    assert "Username or e-mail" in page
    assert response.status_code == 302
    assert client.get("/").context["user"].username == "lena"
