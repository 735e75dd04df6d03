from typing import Any

from django import template

from assessments.findings import Source

register = template.Library()


@register.filter
def lookup(mapping: Any, key: str) -> Any:
    """``{{ errors|lookup:cell.key }}``: a dictionary entry by a computed key."""
    if not mapping:
        return ""
    return mapping.get(key, "")


@register.filter
def source_label(source: Any) -> str:
    """A finding's source as people read it: "FABER, left: knee height 18 cm". Stored findings
    keep their sources as dicts; findings derived for the panel have Source objects."""
    if isinstance(source, Source):
        return source.label
    try:
        return Source(**source).label
    except (TypeError, KeyError, ValueError):
        return ""
