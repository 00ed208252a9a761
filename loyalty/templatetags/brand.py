"""The programme's brand in templates rendered without a request (emails, messages), and the
page title "Page · Programme"."""

from django import template

from loyalty.brand import Brand, current_brand

register = template.Library()


@register.simple_tag
def programme_brand() -> Brand:
    """{% programme_brand as brand %}: the programme's name, colours and point names."""
    return current_brand()


@register.filter
def page_title(title: str, name: str) -> str:
    """"My card · Maison Demo Club"; the programme's name alone when the page has none."""
    title = " ".join(str(title).split())
    if not title or title == name:
        return name
    return f"{title} · {name}"


@register.filter
def points_word(brand: Brand, count) -> str:
    """{{ brand|points_word:member.balance }}: "star" or "stars", as the programme says."""
    try:
        return brand.points_label(int(count))
    except (TypeError, ValueError):
        return brand.point_name_plural
