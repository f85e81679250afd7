from django import forms

from autoscaling.models import WEEKDAYS, ScalingPolicy, ScalingSchedule


class ScalingPolicyForm(forms.ModelForm):
    class Meta:
        model = ScalingPolicy
        fields = [
            "metric",
            "scale_out_threshold",
            "scale_out_window",
            "scale_in_threshold",
            "scale_in_window",
            "step",
            "cooldown",
            "min_size",
            "max_size",
            "enabled",
        ]
        labels = {
            "scale_out_window": "Scale-out window (minutes)",
            "scale_in_window": "Scale-in window (minutes)",
            "cooldown": "Cooldown (minutes)",
            "min_size": "Minimum servers (blank: the group's)",
            "max_size": "Maximum servers (blank: the group's)",
        }


class ScalingScheduleForm(forms.ModelForm):
    days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)), coerce=int, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ScalingSchedule
        fields = ["name", "days", "start", "end", "timezone", "desired", "enabled"]
        widgets = {
            "start": forms.TimeInput(attrs={"type": "time"}),
            "end": forms.TimeInput(attrs={"type": "time"}),
        }
        labels = {"desired": "Servers while active (at least)"}
