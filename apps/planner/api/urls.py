from django.urls import path

from apps.planner.api import views

urlpatterns = [
    path("planner/estimate/", views.EstimateView.as_view(), name="planner-estimate"),
    path("planner/options/", views.OptionsView.as_view(), name="planner-options"),
]
