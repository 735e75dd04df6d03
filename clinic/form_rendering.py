"""How every form field of the site is rendered for assistive technology (settings.FORM_RENDERER),
the admin's included.

- Django marks an invalid field ``aria-invalid="true"`` and points a single input to its help
  and error by ``aria-describedby``, but leaves the inputs of a radio or checkbox group without
  the pointer (it expects the fieldset to carry it, as templates/includes/field.html does). Here
  each input of an invalid group points to the group's error too, so a screen reader on any
  answer hears why the group is invalid, not only that it is.
- A field of a form in a formset (the admin's editable lists and table inlines) is shown under a
  column heading, with no label of its own: it is named "<label>, row <n>".
- The halves of a split field (the admin's date and time) share one label, which names neither:
  each is named "<label>: date" and "<label>: time".
"""

import re
from typing import Any

from django.forms import BoundField, MultiWidget, SplitDateTimeWidget
from django.forms.renderers import DjangoTemplates

_ROW = re.compile(r"-(\d+)$")


class AccessibleBoundField(BoundField):
    def _name(self) -> str:
        """The field's label, with its row in a formset."""
        row = _ROW.search(self.form.prefix or "")
        return f"{self.label}, row {int(row[1]) + 1}" if row else str(self.label)

    def build_widget_attrs(self, attrs: dict[str, Any], widget: Any = None) -> dict[str, Any]:
        attrs = super().build_widget_attrs(attrs, widget)
        if self.use_fieldset and self.errors and self.auto_id and "aria-describedby" not in attrs:
            attrs["aria-describedby"] = f"{self.auto_id}_error"
        widget = widget or self.field.widget
        # A split field's halves are named each (as_widget): one name here would cover both.
        if isinstance(widget, MultiWidget) or widget.is_hidden or not self.label:
            return attrs
        if _ROW.search(self.form.prefix or "") and "aria-label" not in attrs:
            attrs["aria-label"] = self._name()
        return attrs

    def as_widget(self, widget: Any = None, attrs: Any = None, only_initial: bool = False) -> str:
        widget = widget or self.field.widget
        if isinstance(widget, MultiWidget) and self.label:
            parts = ("date", "time") if isinstance(widget, SplitDateTimeWidget) else ()
            for number, part in enumerate(widget.widgets):
                what = parts[number] if number < len(parts) else f"part {number + 1}"
                part.attrs.setdefault("aria-label", f"{self._name()}: {what}")
        return super().as_widget(widget, attrs, only_initial)


class FormRenderer(DjangoTemplates):
    bound_field_class = AccessibleBoundField
