from django import forms

from labeling.models import Project


class LoopSettingsForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = [
            "queue_strategy",
            "target_precision",
            "doubt_band",
            "spot_check_rate",
            "retrain_min_labels",
            "retrain_every_minutes",
        ]
        widgets = {
            "target_precision": forms.NumberInput(attrs={"step": "0.005"}),
            "doubt_band": forms.NumberInput(attrs={"step": "0.05"}),
            "spot_check_rate": forms.NumberInput(attrs={"step": "0.01"}),
        }


class ModelCreateForm(forms.Form):
    """A new model of the project: its name and type; parameters start at the type's
    defaults (the API takes them too: ``POST /api/v1/models``)."""

    name = forms.CharField(max_length=100)
    type = forms.ChoiceField(choices=())

    def __init__(self, *args, **kwargs):
        from training.model_types import TYPES

        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [(key, spec.title) for key, spec in TYPES.items()]
