import hashlib

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from matches.models import Domain, MatchGroup, MatchRun, Profile, ThresholdPolicy, profile_set_key


def hex_id(n: int) -> str:
    return hashlib.md5(str(n).encode()).hexdigest()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            ensure_role_groups()
            self.groups.add(*Group.objects.filter(name__in=extracted))


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"domain-{n}")

    @factory.post_generation
    def policy(self, create, extracted, **kwargs):
        if create and not self.threshold_policies.exists():
            merge_min, reject_below = extracted or (
                ThresholdPolicy.DEFAULT_MERGE_MIN,
                ThresholdPolicy.DEFAULT_REJECT_BELOW,
            )
            ThresholdPolicy.objects.create(domain=self, merge_min=merge_min, reject_below=reject_below)


class MatchRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MatchRun

    domain = factory.SubFactory(DomainFactory)
    status = MatchRun.Status.COMPLETED
    generated_at = factory.Faker("date_time_this_year", tzinfo=__import__("datetime").timezone.utc)


class MatchGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MatchGroup

    run = factory.SubFactory(MatchRunFactory)
    match_id = factory.Sequence(lambda n: f"match-{n:06d}")
    profile_ids = factory.Sequence(lambda n: sorted([hex_id(2 * n), hex_id(2 * n + 1)]))
    profile_set_key = factory.LazyAttribute(lambda o: profile_set_key(o.profile_ids))
    size = factory.LazyAttribute(lambda o: len(o.profile_ids))
    confidence_score = 0.8


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    domain = factory.SubFactory(DomainFactory)
    profile_id = factory.Sequence(lambda n: hex_id(100000 + n))
    attributes = factory.LazyAttribute(lambda o: {"ProfileId": o.profile_id, "FirstName": "Ann", "LastName": "Lee"})


def at_time(when):
    """Make `timezone.now()` return `when` inside the block (audit events and auto_now_add dates)."""
    import contextlib
    from unittest import mock

    return mock.patch("django.utils.timezone.now", return_value=when) if when else contextlib.nullcontext()


def ensure_role_groups() -> None:
    """Transactional tests flush every table; the post_migrate handler puts the role groups back, but a test may
    run before any flush or after one with post_migrate inhibited: make sure they exist."""
    from matches import roles

    if Group.objects.filter(name__in=roles.ROLES).count() < len(roles.ROLES):
        roles.ensure_role_groups()
