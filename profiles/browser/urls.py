"""Routes for browsers: the consent banner's and the collection snippet's endpoints."""

from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from profiles.browser import apis as browser
from profiles.browser import children
from profiles.browser.optout import OptOutApi

# csrf_exempt on purpose: nothing here is authenticated by a cookie or session (see
# profiles.browser.apis.BrowserApi), so CSRF — a defence for cookie-authenticated requests — has
# nothing to protect, and pages on other origins must be able to post here.
urlpatterns: list[URLPattern] = [
    path("collect/notice", csrf_exempt(browser.NoticeApi.as_view()), name="collect-notice"),
    path("collect/consent", csrf_exempt(browser.ConsentApi.as_view()), name="collect-consent"),
    path("collect/events", csrf_exempt(browser.EventsApi.as_view()), name="collect-events"),
    path("collect/choice", csrf_exempt(browser.ChoiceApi.as_view()), name="collect-choice"),
    path("collect/opt-out", csrf_exempt(OptOutApi.as_view()), name="collect-opt-out"),
    path("collect/pixel.gif", browser.pixel, name="collect-pixel"),
    path("collect/age", csrf_exempt(children.AgeApi.as_view()), name="collect-age"),
    path(
        "collect/parental-consent",
        csrf_exempt(children.ParentalConsentApi.as_view()),
        name="collect-parental-consent",
    ),
]
