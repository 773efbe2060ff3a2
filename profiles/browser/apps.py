from django.apps import AppConfig


class BrowserConfig(AppConfig):
    """The banner and snippet's endpoints and their static files (`hub.js`, `hub.css`); no models."""

    name = "profiles.browser"
    label = "browser"
    verbose_name = "Browser endpoints"
