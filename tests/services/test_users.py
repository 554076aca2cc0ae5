import pytest
from django.contrib.auth.models import User

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


# Password rules and roles at creation (issue 13) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "password, says",
    [("12345678901", "entirely numeric"), ("password123", "too common"), ("short", "too short")],
)
def test_a_user_is_created_only_with_a_password_djangos_validators_accept(admin, password, says):
    from django.core.exceptions import ValidationError

    from matches.services.users import user_create

    with pytest.raises(ValidationError) as caught:
        user_create(actor=admin, username="newbie", password=password, role_names=["Steward"])
    assert says in " ".join(caught.value.message_dict["password"])
    assert not User.objects.filter(username="newbie").exists()


def test_a_user_without_a_role_is_refused_at_creation(admin):
    from django.core.exceptions import ValidationError

    from matches.services.users import user_create

    with pytest.raises(ValidationError, match="at least one role"):
        user_create(actor=admin, username="newbie", password="a long passphrase here", role_names=[])


def test_the_add_user_form_shows_the_validators_and_the_role_rule(login, admin):
    response = login(admin).post("/admin/users/add/", {"username": "newbie", "password": "newbie12345"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "too similar to the username" in html
    assert "Give the user at least one role" in html
    assert not User.objects.filter(username="newbie").exists()


def test_a_user_left_without_a_role_is_marked_in_the_list(login, admin, outsider):
    html = login(admin).get("/admin/users/").content.decode()
    assert html.count("no role: sees nothing") == 1
