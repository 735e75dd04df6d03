from typing import Any

from django import template

register = template.Library()


@register.filter
def lookup(mapping: Any, key: str) -> Any:
    """``{{ errors|lookup:cell.key }}``: a dictionary entry by a computed key."""
    if not mapping:
        return ""
    return mapping.get(key, "")


@register.filter
def source_label(source: dict) -> str:
    """A stored finding source as people read it: "FABER, left: knee height 18 cm"."""
    from assessments.findings import Source

    try:
        return Source(**source).label
    except (TypeError, KeyError, ValueError):
        return ""
