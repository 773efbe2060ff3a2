from django.urls import path

from hub import views

app_name = "portal"
urlpatterns = [path("", views.portal_placeholder, name="home")]
