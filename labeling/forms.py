from django import forms

from labeling.models import Project, Role


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    eval_fraction = forms.FloatField(
        min_value=0.0,
        max_value=0.9,
        initial=0.2,
        help_text="Share of inputs held out for evaluation (fixed after the first upload).",
    )
    overlap = forms.IntegerField(
        min_value=1, max_value=10, initial=1, help_text="Annotators per input."
    )


class ProjectSettingsForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = [
            "name",
            "description",
            "guidelines",
            "overlap",
            "eval_fraction",
            "target_precision",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "guidelines": forms.Textarea(attrs={"rows": 6}),
        }


class InviteForm(forms.Form):
    identifier = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)
    review_tier = forms.IntegerField(
        min_value=1, max_value=3, required=False, help_text="For reviewers."
    )


class MembershipForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    review_tier = forms.IntegerField(min_value=1, max_value=3, required=False)


class DictionaryForm(forms.Form):
    definition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, label="What it is"
    )
    is_not = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="What it is not"
    )
