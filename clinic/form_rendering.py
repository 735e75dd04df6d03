"""How every form field of the site is rendered for assistive technology (settings.FORM_RENDERER).

Django marks an invalid field ``aria-invalid="true"`` and points a single input to its help and
error by ``aria-describedby``, but leaves the inputs of a radio or checkbox group without the
pointer (it expects the fieldset to carry it, as templates/includes/field.html does). Here each
input of an invalid group points to the group's error too, so a screen reader on any answer
hears why the group is invalid, not only that it is.
"""

from typing import Any

from django.forms import BoundField
from django.forms.renderers import DjangoTemplates


class AccessibleBoundField(BoundField):
    def build_widget_attrs(self, attrs: dict[str, Any], widget: Any = None) -> dict[str, Any]:
        attrs = super().build_widget_attrs(attrs, widget)
        if self.use_fieldset and self.errors and self.auto_id and "aria-describedby" not in attrs:
            attrs["aria-describedby"] = f"{self.auto_id}_error"
        return attrs


class FormRenderer(DjangoTemplates):
    bound_field_class = AccessibleBoundField
