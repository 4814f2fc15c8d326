"""Identity: anonymous → identified merges, alias, shared devices, and races between requests."""

from __future__ import annotations

import pytest
from django.test import Client

from activities.models import Activity, Identity, Profile
from tests.conftest import SegmentClient, in_parallel


def live_profiles():
    return Profile.objects.live()


def profile_of(**identity) -> Profile:
    return Identity.objects.select_related("profile").get(**identity).profile


@pytest.mark.django_db
class TestMerging:
    def test_anonymous_activity_then_identify_lands_on_one_profile(self, segment: SegmentClient):
        segment.post("/v1/track", {"anonymousId": "anon-1", "event": "viewed_product"})
        segment.post("/v1/identify", {"anonymousId": "anon-1", "userId": "ann", "traits": {"email": "a@x.test"}})
        segment.post("/v1/track", {"userId": "ann", "event": "purchase"})
        (profile,) = live_profiles()
        assert profile.user_id == "ann"
        assert profile.email == "a@x.test"
        assert set(Activity.objects.values_list("profile_id", flat=True)) == {profile.pk}
        assert profile_of(kind="anonymous_id", value="anon-1") == profile

    def test_anonymous_profile_merges_into_an_existing_user(self, segment: SegmentClient):
        segment.post("/v1/identify", {"userId": "ann", "traits": {"plan": "pro", "country": "TR"}})
        segment.post("/v1/track", {"anonymousId": "anon-2", "event": "browse"})
        anonymous = profile_of(kind="anonymous_id", value="anon-2")
        segment.post("/v1/identify", {"anonymousId": "anon-2", "userId": "ann", "traits": {"plan": "team"}})
        ann = Profile.objects.get(user_id="ann")
        anonymous.refresh_from_db()
        assert anonymous.merged_into == ann
        assert ann.traits == {"plan": "team", "country": "TR"}
        assert Activity.objects.filter(profile=anonymous).count() == 0
        assert Activity.objects.filter(profile=ann, name="browse").count() == 1
        assert list(live_profiles()) == [ann]

    def test_any_call_with_both_ids_merges(self, segment: SegmentClient):
        segment.post("/v1/track", {"anonymousId": "anon-3", "event": "browse"})
        segment.post("/v1/track", {"anonymousId": "anon-3", "userId": "cem", "event": "signup"})
        (profile,) = live_profiles()
        assert profile.user_id == "cem"
        assert Activity.objects.filter(profile=profile).count() == 2

    def test_alias_merges_an_anonymous_id(self, segment: SegmentClient):
        segment.post("/v1/track", {"anonymousId": "anon-4", "event": "browse"})
        segment.post("/v1/alias", {"previousId": "anon-4", "userId": "dee"})
        (profile,) = live_profiles()
        assert profile.user_id == "dee"
        assert sorted(Activity.objects.filter(profile=profile).values_list("name", flat=True)) == ["alias", "browse"]

    def test_alias_of_an_earlier_user_id_merges_and_the_old_id_keeps_resolving(self, segment: SegmentClient):
        segment.post("/v1/track", {"userId": "old-id", "event": "first"})
        segment.post("/v1/track", {"userId": "new-id", "event": "second"})
        segment.post("/v1/alias", {"previousId": "old-id", "userId": "new-id"})
        segment.post("/v1/track", {"userId": "old-id", "event": "third"})
        (profile,) = live_profiles()
        assert profile.user_id == "new-id"
        assert profile_of(kind="user_id", value="old-id") == profile
        assert Activity.objects.filter(profile=profile).count() == 4

    def test_a_shared_device_does_not_merge_two_known_users(self, segment: SegmentClient):
        segment.post("/v1/identify", {"anonymousId": "family-tablet", "userId": "mom"})
        segment.post("/v1/identify", {"anonymousId": "family-tablet", "userId": "kid"})
        assert sorted(live_profiles().values_list("user_id", flat=True)) == ["kid", "mom"]
        assert profile_of(kind="anonymous_id", value="family-tablet").user_id == "mom"

    def test_merging_is_idempotent(self, segment: SegmentClient):
        segment.post("/v1/track", {"anonymousId": "anon-5", "event": "browse"})
        for _ in range(3):
            segment.post("/v1/identify", {"anonymousId": "anon-5", "userId": "eve"})
        assert live_profiles().count() == 1
        assert Profile.objects.filter(merged_into__isnull=False).count() == 1

    def test_merge_keeps_opt_outs_from_either_side_and_unions_tags(self, segment: SegmentClient):
        segment.post("/v1/track", {"anonymousId": "anon-6", "event": "browse"})
        Profile.objects.filter(identities__value="anon-6").update(consent={"email": False}, tags=["web"])
        segment.post("/v1/identify", {"userId": "fay"})
        Profile.objects.filter(user_id="fay").update(consent={"email": True, "sms": False}, tags=["vip"])
        segment.post("/v1/identify", {"anonymousId": "anon-6", "userId": "fay"})
        fay = Profile.objects.get(user_id="fay")
        assert fay.consent == {"email": False, "sms": False}
        assert fay.tags == ["vip", "web"]


@pytest.mark.django_db(transaction=True)
class TestRaces:
    def test_parallel_first_events_of_a_new_user_make_one_profile(self, acme):
        statuses: list[int] = []

        def send(index: int) -> None:
            client = SegmentClient(Client(), acme.write_key)
            statuses.append(client.post("/v1/track", {"userId": "zed", "event": f"e{index}"}).status_code)

        in_parallel(8, send)
        assert statuses == [200] * 8
        assert Profile.objects.filter(user_id="zed").count() == 1
        assert Activity.objects.filter(profile__user_id="zed").count() == 8
        assert Profile.objects.count() == 1  # no orphaned losers

    def test_parallel_first_events_of_a_new_anonymous_id_make_one_profile(self, acme):
        def send(index: int) -> None:
            SegmentClient(Client(), acme.write_key).post("/v1/track", {"anonymousId": "anon-r", "event": f"e{index}"})

        in_parallel(8, send)
        assert Profile.objects.count() == 1
        assert Activity.objects.count() == 8

    def test_anonymous_events_racing_identify_end_on_one_merged_profile(self, acme):
        def send(index: int) -> None:
            client = SegmentClient(Client(), acme.write_key)
            for round_ in range(3):
                if index % 2:
                    body = {"anonymousId": "anon-race", "event": f"browse-{index}-{round_}"}
                    assert client.post("/v1/track", body).status_code == 200
                else:
                    body = {"anonymousId": "anon-race", "userId": "racer", "traits": {"n": index}}
                    assert client.post("/v1/identify", body).status_code == 200

        in_parallel(8, send)
        racer = Profile.objects.get(user_id="racer")
        assert list(Profile.objects.live()) == [racer]
        assert Activity.objects.exclude(profile=racer).count() == 0
        assert Activity.objects.filter(profile=racer).count() == 24
        assert profile_of(kind="anonymous_id", value="anon-race") == racer


@pytest.mark.django_db
def test_a_profile_deleted_under_a_batch_makes_the_batch_resolve_again(acme, segment: SegmentClient):
    """A privacy deletion can commit between a batch resolving its ids and locking its profiles; the
    lock notices, and the store's retry resolves again (a new, empty profile) instead of failing."""
    from django.db import IntegrityError
    from django.utils import timezone

    from activities.identity import identities_resolve, profiles_share
    from activities.segment_spec import parse_message
    from activities.services import profile_delete

    segment.post("/v1/track", {"userId": "gone", "event": "x"})
    message = parse_message({"userId": "gone", "event": "y"}, call="track", received_at=timezone.now())
    resolution = identities_resolve(acme.workspace.pk, [message])
    profile_delete(profile=Profile.objects.get(user_id="gone"), actor=None)
    with pytest.raises(IntegrityError):
        profiles_share(resolution.profile_of.values())
    assert identities_resolve(acme.workspace.pk, [message]).profile_id(message) != resolution.profile_id(message)
