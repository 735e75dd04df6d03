"""Submitting Django admin change forms as a browser would: every field with its current value."""

from typing import Any

from django.forms import BaseForm
from django.test.client import Client as HttpClient


def _form_data(form: BaseForm) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for bound in form:
        if bound.field.disabled:
            continue
        value = bound.field.widget.format_value(bound.value())
        if isinstance(bound.value(), bool):
            if bound.value():
                data[bound.html_name] = "on"
            continue
        if isinstance(bound.value(), list | tuple):
            data[bound.html_name] = [str(item) for item in bound.value()]
            continue
        if value is not None:
            data[bound.html_name] = value
    return data


def admin_form_data(http: HttpClient, url: str, **changes: Any) -> dict[str, Any]:
    """The data the admin change page at ``url`` would post unchanged, plus ``changes``."""
    page = http.get(url)
    assert page.status_code == 200, page.status_code
    data = _form_data(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(_form_data(formset.management_form))
        for form in formset.forms:
            data.update(_form_data(form))
    data.update(changes)
    return data
