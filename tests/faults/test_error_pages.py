"""Issue 14, item 4: a steward sees a calm error, never a stack. The full-page 500 renders templates/500.html (the htmx
side, "Not saved ... try again", is tests/e2e/test_request_errors.py)."""

import pytest
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path


@login_not_required
def boom(request) -> HttpResponse:
    raise RuntimeError("secret detail that must not reach the page")


urlpatterns = [path("boom/", boom)]


@pytest.mark.urls("tests.faults.test_error_pages")
def test_a_server_error_shows_the_calm_page_without_detail(client, settings, caplog):
    settings.DEBUG = False
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert "secret detail" in caplog.text  # the view's own error, logged for the operators
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert 'href="/"' in body  # a way back
    assert "secret detail" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert "<script" not in body  # nothing inline (a CSP is coming) and nothing that could fail in turn
