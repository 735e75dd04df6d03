"""``{% page_url "client_record" client.uuid %}``: a page of a higher layer, by what it is for
(clinic/pages.py), for templates of the layers below it."""

from django import template

from clinic import pages

register = template.Library()


@register.simple_tag
def page_url(name: str, *args: object) -> str:
    return pages.page_url(name, *args)
