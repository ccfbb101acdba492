"""The workflow language: models (`definition`), legacy-form normalization (`normalize`), semantic
checks (`validate`), the task graph and the pure conductor. Nothing here imports Temporal, FastAPI
or SQLAlchemy. Import the submodules directly; this package imports nothing so the Temporal
workflow sandbox only loads what it uses."""
