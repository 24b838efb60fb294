from django import template
from django.urls import reverse

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key, 0)


@register.simple_tag
def example_thumb_url(project_id: int, example) -> str:
    """Thumbnail URL of a dictionary example, whether it is a project input or an upload."""
    if example.input_id:
        return reverse("labeling:input_image", args=[project_id, example.input_id, "thumb"])
    return reverse("labeling:example_image", args=[project_id, example.id, "thumb"])
