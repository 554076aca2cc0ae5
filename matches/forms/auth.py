"""The login form: Django's, with the username's length checked before anything is looked up or recorded."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


class LoginForm(AuthenticationForm):
    """Django sets the username field's max_length after the field is built, so it never validates it: a very long
    name went on to authenticate() and django-axes' failure record (a 255-character column), a server error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(getattr(field, "max_length", None) or 150))
