from django.conf import settings
from django.db import models


class Concept(models.Model):
    """A node of a project's taxonomy. Concepts are archived or merged, never deleted.

    A top-level concept and its descendants form a group that labels either whole inputs
    (the default) or regions: boxes drawn on the input, each with one of the group's
    concepts (``scope``; set on the top-level concept, inherited below)."""

    class Scope(models.TextChoices):
        INPUT = "input", "Whole input"
        REGIONS = "regions", "Regions (boxes)"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="concepts"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    key = models.CharField(
        max_length=100, help_text="Machine name used by the API and imports; unique among siblings."
    )
    name = models.CharField(max_length=200)
    exclusive = models.BooleanField(
        default=False,
        help_text="The children of an exclusive concept are the options of one single choice.",
    )
    position = models.PositiveIntegerField(default=0)
    scope = models.CharField(
        max_length=8,
        choices=Scope.choices,
        default=Scope.INPUT,
        help_text="On a top-level concept: whether its group labels whole inputs or boxes.",
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "key"],
                condition=models.Q(parent__isnull=True),
                name="concept_unique_root_key",
            ),
            models.UniqueConstraint(fields=["parent", "key"], name="concept_unique_child_key"),
        ]
        indexes = [models.Index(fields=["project", "parent", "position"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class ConceptSynonym(models.Model):
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="synonyms")
    name = models.CharField(max_length=200)
    normalized = models.CharField(max_length=200, help_text="Lower-cased, trimmed name.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "normalized"], name="synonym_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class ConceptChange(models.Model):
    """Append-only record of every change to a project's taxonomy and dictionary."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        RENAME = "rename", "Renamed"
        MOVE = "move", "Moved"
        REORDER = "reorder", "Reordered"
        EXCLUSIVE = "exclusive", "Changed choice type"
        SYNONYM_ADD = "synonym_add", "Added synonym"
        SYNONYM_REMOVE = "synonym_remove", "Removed synonym"
        MERGE = "merge", "Merged"
        ARCHIVE = "archive", "Archived"
        RESTORE = "restore", "Restored"
        DICTIONARY = "dictionary", "Edited dictionary"
        SCOPE = "scope", "Changed what it labels"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.concept_id} by {self.actor_id}"


class DictionaryEntry(models.Model):
    """One version of a concept's visual dictionary. Each edit adds a version."""

    concept = models.ForeignKey(Concept, on_delete=models.CASCADE, related_name="dictionary")
    version = models.PositiveIntegerField()
    definition = models.TextField(blank=True, help_text="What the concept is.")
    is_not = models.TextField(blank=True, help_text="What it is not, and easy confusions.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["concept", "version"], name="dictionary_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.concept_id} v{self.version}"


class DictionaryExample(models.Model):
    """An ideal or not-ideal example image: a project input, or an uploaded image."""

    class Kind(models.TextChoices):
        IDEAL = "ideal", "Ideal"
        NOT_IDEAL = "not_ideal", "Not ideal"

    entry = models.ForeignKey(DictionaryEntry, on_delete=models.CASCADE, related_name="examples")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    input = models.ForeignKey(
        "labeling.Input", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    image = models.CharField(max_length=500, blank=True, help_text="Uploaded file, under media.")
    thumbnail = models.CharField(max_length=500, blank=True)
    caption = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["kind", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(input__isnull=False) & models.Q(image=""))
                | (models.Q(input__isnull=True) & ~models.Q(image="")),
                name="example_input_or_image",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} example of {self.entry_id}"
