from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from django.conf import settings

        from labeling import hooks
        from training.ml import backbone
        from training.services.embeddings import embeddings_request
        from training.services.search_index import search_index_request
        from training.services.versions import model_router_ensure

        # new inputs are embedded; every project has its routing classifier from the start
        hooks.subscribe(
            hooks.INPUTS_STORED, lambda *, project_id, **_: embeddings_request(project_id)
        )
        # new vectors go into the project's search index (a worker adds them)
        hooks.subscribe(
            hooks.INPUTS_EMBEDDED, lambda *, project_id, **_: search_index_request(project_id)
        )
        hooks.subscribe(
            hooks.PROJECT_CREATED, lambda *, project, **_: model_router_ensure(project=project)
        )
        # how the backbone runs in this process (nothing is loaded until the first image)
        backbone.configure(
            runtime=settings.TRAINING_EMBED_RUNTIME,
            cache_dir=settings.TRAINING_MODEL_CACHE,
            threads=settings.TRAINING_EMBED_THREADS or None,
        )
