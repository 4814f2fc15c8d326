"""Login brute force is locked out (django-axes) on the panel's and the admin's logins: after the limit a
username is refused from that address, even with the right password, until the cool-off has passed or
an operator clears it; the locked-out page says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest
from django.test import Client

from tests.personas import Tenant

pytestmark = pytest.mark.django_db

LOGINS = {"/login/": "/", "/admin/login/": "/admin/"}


@pytest.fixture
def owner(acme: Tenant) -> dict[str, str]:
    acme.owner.is_staff = True  # so that the admin's login lets them in too
    acme.owner.save(update_fields=["is_staff"])
    return {"username": acme.owner.username, "password": "pw"}


def fail_until_locked(browser: Client, login: str, username: str) -> None:
    for attempt in range(1, settings.AXES_FAILURE_LIMIT + 1):
        response = browser.post(login, {"username": username, "password": f"guess-{attempt}"})
        expected = 429 if attempt == settings.AXES_FAILURE_LIMIT else 200  # the form again, with its error
        assert response.status_code == expected, attempt


def logged_in(browser: Client, login: str) -> bool:
    home = browser.get(LOGINS[login])
    return home.status_code == 200 or (home.status_code == 302 and "login" not in home["Location"])


@pytest.mark.parametrize("login", sorted(LOGINS))
def test_the_right_password_is_refused_after_the_limit_until_the_cool_off_has_passed(owner, login):
    assert (settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds()) == (10, 900)  # the defaults
    browser = Client()
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as clock:
        fail_until_locked(browser, login, owner["username"])

        refused = browser.post(login, owner)
        assert refused.status_code == 429
        page = refused.content.decode()
        assert "Too many failed log-ins" in page and owner["username"] in page and "15 minutes" in page
        assert refused["Retry-After"] == "900"
        assert not logged_in(browser, login)

        # The lockout is for this username from this address: the owner elsewhere still gets in.
        elsewhere = Client(REMOTE_ADDR="192.0.2.7")
        assert elsewhere.post(login, owner).status_code == 302 and logged_in(elsewhere, login)

        clock.shift(timedelta(minutes=14))  # the refused attempt started the cool-off again
        assert browser.post(login, owner).status_code == 429
        clock.shift(timedelta(minutes=15, seconds=1))
        answer = browser.post(login, owner)
        assert answer.status_code == 302 and logged_in(browser, login)


def test_an_operator_sees_and_clears_a_lockout_in_the_admin(owner, django_user_model):
    browser = Client()
    fail_until_locked(browser, "/login/", owner["username"])
    operator = Client()
    operator.force_login(django_user_model.objects.create_superuser("op", "op@x.test", "pw"))
    listing = operator.get("/admin/axes/accessattempt/?locked_out=yes").content.decode()
    assert owner["username"] in listing and "Locked Out" in listing

    attempt = AccessAttempt.objects.get(username=owner["username"])
    operator.post(
        "/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"}
    )
    assert not AccessAttempt.objects.exists()
    assert browser.post("/login/", owner).status_code == 302 and logged_in(browser, "/login/")


def test_a_member_sees_no_lockouts(acme, owner):
    browser = Client()
    browser.force_login(acme.owner)
    assert browser.get("/admin/axes/accessattempt/").status_code == 403


def test_a_success_before_the_limit_forgets_the_failures(owner):
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        browser.post("/login/", {"username": owner["username"], "password": "nope"})
    assert browser.post("/login/", owner).status_code == 302
    assert not AccessAttempt.objects.exists()


def test_the_test_clients_login_works_when_given_a_request(owner):
    """Axes checks every authentication against the request it came with; tests that log in with
    Client.login pass one (or use force_login, which authenticates nothing)."""
    browser = Client()
    assert browser.login(request=HttpRequest(), **owner)
    assert logged_in(browser, "/login/")


def test_behind_a_load_balancer_the_client_is_the_address_it_appended(owner, settings):
    """NUDGE_TRUSTED_PROXIES=1: every login arrives from the balancer's address, so the client is the
    right-most X-Forwarded-For entry — one an attacker cannot write — and one locked-out address does
    not lock out the same user elsewhere."""
    settings.NUDGE_TRUSTED_PROXIES = 1
    attacker = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")
    fail_until_locked(attacker, "/login/", owner["username"])
    spoofing = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9")
    assert spoofing.post("/login/", owner).status_code == 429  # writing another address in front changes nothing
    colleague = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert colleague.post("/login/", owner).status_code == 302
    assert logged_in(colleague, "/login/")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.9"]
