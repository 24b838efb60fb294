from django.contrib import admin

from labeling import models


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "overlap", "eval_fraction", "target_precision", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "review_tier"]
    list_filter = ["role", "project"]


@admin.register(models.Concept)
class ConceptAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "project", "parent", "exclusive", "archived_at"]
    list_filter = ["project", "exclusive"]
    search_fields = ["name", "key"]


@admin.register(models.ConceptChange)
class ConceptChangeAdmin(admin.ModelAdmin):
    """Read-only: the change log is append-only."""

    list_display = ["created_at", "project", "concept", "action", "actor"]
    list_filter = ["action", "project"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.DictionaryEntry)
class DictionaryEntryAdmin(admin.ModelAdmin):
    list_display = ["concept", "version", "created_by", "created_at"]


@admin.register(models.Input)
class InputAdmin(admin.ModelAdmin):
    list_display = ["id", "original_name", "project", "split", "status", "width", "height"]
    list_filter = ["project", "split", "status", "format"]
    search_fields = ["original_name", "sha256"]


@admin.register(models.UploadBatch)
class UploadBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "processed", "total", "created_at"]
    list_filter = ["status"]


@admin.register(models.Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "input", "source", "status", "author", "created_at"]
    list_filter = ["source", "status", "project"]


@admin.register(models.ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    """Read-only: decisions are append-only and made on the review pages."""

    list_display = ["created_at", "annotation", "tier", "action", "reviewer", "bulk"]
    list_filter = ["action", "tier", "project"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.ReviewTier)
class ReviewTierAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "mode", "sample_rate"]
