"""The portal's forms: sign-in, a consent choice, and one form per kind of privacy request."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from profiles.requests.details import MAX_MESSAGE, MAX_TRAIT_NAME, MAX_VALUE_CHARS
from profiles.requests.human_review import MAX_VIEW, about_parse


class PortalForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SignInForm(PortalForm):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=200,
        help_text=_("We will email you a link that signs you in. It works once and expires quickly."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class ConsentChoiceForm(PortalForm):
    """One purpose, one choice: the same single button grants or withdraws."""

    purpose = forms.SlugField(max_length=64)
    granted = forms.TypedChoiceField(choices=[("1", "1"), ("0", "0")], coerce=lambda value: value == "1")
    # the notice the page showed: a decision is recorded against the notice the person read
    notice_version = forms.IntegerField(required=False, min_value=1)


class IdentifierUnlinkForm(PortalForm):
    identifier = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class RequestForm(PortalForm):
    """A request that needs nothing but an optional message (access, portability, restriction).

    Each form on the page has the request type as its prefix, so its fields are named
    `<type>-message` and so on; the type itself travels in an unprefixed `type` field.
    """

    message = forms.CharField(
        label=_("Anything you want to tell us (optional)"),
        required=False,
        max_length=MAX_MESSAGE,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def details(self) -> dict[str, Any]:
        message = self.cleaned_data.get("message")
        return {"message": message} if message else {}


class ErasureForm(RequestForm):
    confirm = forms.BooleanField(
        label=_("I understand that my data will be erased for good and cannot be recovered."),
        required=True,
    )


class RectificationForm(RequestForm):
    trait = forms.CharField(
        label=_("Which piece of data is wrong"),
        max_length=MAX_TRAIT_NAME,
        help_text=_('Its name as shown on the "My data" page, for example "name".'),
    )
    value = forms.CharField(label=_("The correct value"), max_length=MAX_VALUE_CHARS)

    def details(self) -> dict[str, Any]:
        return super().details() | {"traits": {self.cleaned_data["trait"]: self.cleaned_data["value"]}}


class ObjectionForm(RequestForm):
    purposes = forms.MultipleChoiceField(
        label=_("What do you object to?"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("If you tick nothing, we stop all direct marketing to you."),
    )

    def __init__(self, *args: Any, purposes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["purposes"]
        assert isinstance(field, forms.MultipleChoiceField)  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
        field.choices = purposes

    def details(self) -> dict[str, Any]:
        chosen = self.cleaned_data.get("purposes")
        return super().details() | ({"purposes": sorted(chosen)} if chosen else {})


class ProfilingObjectionForm(PortalForm):
    """ "Object to this profiling" next to a cluster model on the data page (Art. 21)."""

    segment = forms.SlugField(max_length=64)


class HumanReviewForm(RequestForm):
    """Art. 22(3): the person picks one of their own segments or scores and says what they think."""

    about = forms.CharField(
        label=_("Which automated decision"),
        max_length=200,
        help_text=_("The segments we put you in and the scores we compute about you."),
    )
    view = forms.CharField(
        label=_("Your view: why you disagree or what we should consider (optional)"),
        required=False,
        max_length=MAX_VIEW,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["about"].widget = forms.Select(choices=choices)

    def details(self) -> dict[str, Any]:
        view = self.cleaned_data.get("view") or ""
        return super().details() | {"about": about_parse(self.cleaned_data["about"]), "view": view}


REQUEST_FORMS: dict[str, type[RequestForm]] = {
    "access": RequestForm,
    "portability": RequestForm,
    "rectification": RectificationForm,
    "erasure": ErasureForm,
    "restriction": RequestForm,
    "objection": ObjectionForm,
    "human_review": HumanReviewForm,
}
# what each form says, and its button
REQUEST_TEXTS: dict[str, tuple[Promise, Promise]] = {
    "access": (
        _("A copy of everything we hold about you, with why we hold it and who received it."),
        _("Request access to my data"),
    ),
    "portability": (
        _("The data you gave us, in files (JSON and CSV) you can take to another service."),
        _("Request my data in a portable format"),
    ),
    "rectification": (_("Tell us what is wrong and what it should be."), _("Request a correction")),
    "erasure": (
        _(
            "We delete your data everywhere we control it and tell the services that received it. "
            "Our privacy team reviews the request first."
        ),
        _("Request erasure of my data"),
    ),
    "restriction": (
        _("We keep your data but stop using it until the restriction is lifted (we tell you first)."),
        _("Request restriction of processing"),
    ),
    "objection": (
        _("Tell us to stop using your data for some purposes. Direct marketing stops at once."),
        _("Send my objection"),
    ),
    "human_review": (
        _(
            "Ask for a person to review an automated decision, give your view, or contest it (GDPR Art. 22(3)). "
            "Someone from our privacy team reviews it and tells you the outcome."
        ),
        _("Ask for a human review"),
    ),
}
# where a domain error about the details belongs on the form
DETAIL_FIELDS = {
    "details.traits": "trait", "details.purposes": "purposes", "details.message": "message",
    "details.about": "about", "details.about.key": "about", "details.about.purpose": "about", "details.view": "view",
}  # fmt: skip
