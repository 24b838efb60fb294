"""The model API under /api/v1/ (included from portal/urls.py beside labeling's)."""

from django.urls import path

from training import api as models_api

urlpatterns = [
    path("models/types/", models_api.model_types_view, name="api_model_types"),
    path("models/", models_api.models_view, name="api_models"),
    path("models/<id:model_id>/", models_api.model_view, name="api_model"),
    path("models/<id:model_id>/train/", models_api.model_train_view, name="api_model_train"),
    path("models/<id:model_id>/predict/", models_api.model_predict_view, name="api_model_predict"),
    path(
        "projects/<id:project_id>/inputs/search-by-image/",
        models_api.image_search_view,
        name="api_image_search",
    ),
    path("predictions/<id:prediction_id>/", models_api.prediction_view, name="api_prediction"),
]
