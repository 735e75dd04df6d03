"""The error summary every page with an invalid form shows, the way GOV.UK's design system
does it: the page title starts with "Error:", a summary at the top of the main content lists
each problem as a link to its field, and focus moves to it (static/js/errors.js).

base.html asks for ``{% page_errors as page_problems %}``: the bound forms with errors are found in
the page's context, so a form added later gets the summary without its template doing anything.
"""

from dataclasses import dataclass

from django import template
from django.forms import BaseForm, BoundField, Field

register = template.Library()


@dataclass(frozen=True)
class PageError:
    message: str
    # The id of the control the message is about (the first choice of a group), or "" for a
    # problem with the form as a whole.
    target: str


def _target(field: BoundField) -> str:
    if field.is_hidden or not field.auto_id:
        return ""
    if field.use_fieldset:
        # A group of radios or checkboxes: its first choice, as GOV.UK links to it.
        subwidgets = field.subwidgets
        return subwidgets[0].id_for_label if subwidgets else ""
    return field.id_for_label


def _summary_text(field: BoundField, message: str) -> str:
    # Django's own "This field is required." says which field only beside it; in the summary it
    # is named.
    if message == str(Field.default_error_messages["required"]) and field.label:
        return f"{field.label.rstrip(':')}: this field is required."
    return message


def errors_of(form: BaseForm) -> list[PageError]:
    found = [PageError(str(message), "") for message in form.non_field_errors()]
    for field in form:
        found.extend(
            PageError(_summary_text(field, str(message)), _target(field))
            for message in field.errors
        )
    return found


@register.simple_tag(takes_context=True)
def page_errors(context: template.Context) -> list[PageError]:
    """Every problem of every invalid form on the page, in the order the forms were given,
    then those a view lists itself in ``field_errors`` ({element id: message}) for fields that
    are not a Django form's (the assessment panel's step form without JavaScript)."""
    forms: dict[int, BaseForm] = {}
    flat = context.flatten()
    for value in flat.values():
        if isinstance(value, BaseForm) and value.is_bound and value.errors:
            forms.setdefault(id(value), value)
    found = [problem for form in forms.values() for problem in errors_of(form)]
    listed = flat.get("field_errors") or {}
    return found + [PageError(str(message), str(target)) for target, message in listed.items()]
