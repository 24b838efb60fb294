"""Regions in the API, in Clarifai's shape:

    {"region_info": {"bounding_box": {"top_row": .1, "left_col": .2,
                                      "bottom_row": .5, "right_col": .6}},
     "data": {"concepts": [{"id": "face", "value": 1}]}}

Coordinates are fractions of the image as people see it (EXIF orientation applied). Each
region names one concept (of a group that labels boxes); a model's regions carry the
concept's confidence as ``value``.
"""

from rest_framework import serializers

from labeling.boxes import InvalidBox, from_clarifai, to_clarifai
from labeling.models import Region
from labeling.selectors import concepts_resolve
from labeling.services.errors import ServiceError


class BoundingBoxSerializer(serializers.Serializer):
    top_row = serializers.FloatField()
    left_col = serializers.FloatField()
    bottom_row = serializers.FloatField()
    right_col = serializers.FloatField()


class RegionInfoSerializer(serializers.Serializer):
    bounding_box = BoundingBoxSerializer()


class RegionConceptSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200, help_text="Concept id, key, name or synonym.")
    value = serializers.JSONField(required=False, default=1)


class RegionDataSerializer(serializers.Serializer):
    concepts = RegionConceptSerializer(many=True, min_length=1, max_length=1)


class RegionSerializer(serializers.Serializer):
    region_info = RegionInfoSerializer()
    data = RegionDataSerializer()


def regions_from_payload(project, items: list[dict]) -> list[dict]:
    """Validated Clarifai-shaped regions as the services take them
    (``{"concept": id, "x", "y", "w", "h"}``); ServiceError names the first wrong one."""
    regions = []
    for number, item in enumerate(items, start=1):
        concept = item["data"]["concepts"][0]
        key = concept["id"]
        ids = [int(key)] if str(key).isdecimal() else concepts_resolve(project, [concept])[0]
        if not ids:
            raise ServiceError(f"Region {number}: unknown concept {key!r}.")
        try:
            box = from_clarifai(item["region_info"]["bounding_box"])
        except InvalidBox as exc:
            raise ServiceError(f"Region {number}: {exc}.") from None
        regions.append({"concept": ids[0], "x": box.x, "y": box.y, "w": box.w, "h": box.h})
    return regions


def region_json(region: Region) -> dict:
    concept = {"id": region.concept_id, "name": region.concept.name, "value": 1}
    if region.confidence is not None:
        concept["value"] = region.confidence
    body = {
        "id": region.id,
        "region_info": {"bounding_box": to_clarifai(region.box)},
        "data": {"concepts": [concept]},
    }
    if region.parent_id is not None:
        body["parent"] = region.parent_id
    return body
