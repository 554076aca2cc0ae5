import pytest

from matches import roles
from matches.models import AuditEvent
from matches.services.users import LastAdminError, user_set_active, user_set_roles
from tests.factories import UserFactory


def test_roles_change_is_audited_with_before_and_after(admin, steward):
    user_set_roles(actor=admin, user=steward, role_names=[roles.AUDITOR])
    assert list(steward.groups.values_list("name", flat=True)) == [roles.AUDITOR]
    event = AuditEvent.objects.get(action="user.roles_changed")
    assert event.details == {"username": "steward", "before": [roles.STEWARD], "after": [roles.AUDITOR]}
    assert event.actor == admin


def test_the_last_admin_cannot_lose_the_role(admin):
    with pytest.raises(LastAdminError):
        user_set_roles(actor=admin, user=admin, role_names=[roles.STEWARD])
    assert admin.groups.filter(name=roles.ADMIN).exists()
    assert not AuditEvent.objects.exists()


def test_the_last_admin_cannot_be_deactivated(admin):
    with pytest.raises(LastAdminError):
        user_set_active(actor=admin, user=admin, active=False)
    admin.refresh_from_db()
    assert admin.is_active


def test_an_admin_can_step_down_when_another_admin_remains(admin):
    other = UserFactory(username="admin2", roles=[roles.ADMIN])
    user_set_roles(actor=other, user=admin, role_names=[roles.STEWARD])
    assert not admin.groups.filter(name=roles.ADMIN).exists()


def test_an_inactive_admin_does_not_count_as_remaining(admin):
    UserFactory(username="admin2", roles=[roles.ADMIN], is_active=False)
    with pytest.raises(LastAdminError):
        user_set_roles(actor=admin, user=admin, role_names=[])


def test_unknown_roles_are_refused(admin, steward):
    with pytest.raises(ValueError, match="Unknown role"):
        user_set_roles(actor=admin, user=steward, role_names=["Superuser"])
