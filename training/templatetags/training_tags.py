from django import template

register = template.Library()


@register.filter
def about(seconds: float | None) -> str:
    """A wait in words: "under a minute", "about 3 min", "about 1 h 20 min"."""
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    if seconds < 60:
        return "under a minute"
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
