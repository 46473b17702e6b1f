"""Label Studio's routes plus the manager-only ``/api/annoflow/`` API."""
from django.urls import include, path

from annoflow_ls import api

urlpatterns = [
    path("api/annoflow/experts/", api.ExpertsAPI.as_view(), name="annoflow-experts"),
    path("api/annoflow/experts/<int:pk>/password/", api.ExpertPasswordAPI.as_view(),
         name="annoflow-expert-password"),
    path("api/annoflow/projects/<int:pk>/access/", api.ProjectAccessAPI.as_view(),
         name="annoflow-project-access"),
    path("api/annoflow/projects/<int:pk>/review/", api.ProjectReviewAPI.as_view(),
         name="annoflow-project-review"),
    path("api/annoflow/projects/<int:pk>/overlap/", api.ProjectOverlapAPI.as_view(),
         name="annoflow-project-overlap"),
    path("api/annoflow/projects/<int:pk>/activity/", api.ProjectActivityAPI.as_view(),
         name="annoflow-project-activity"),
    path("api/annoflow/routes/", api.RoutesAPI.as_view(), name="annoflow-routes"),
    path("", include("core.urls")),
]
