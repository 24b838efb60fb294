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
