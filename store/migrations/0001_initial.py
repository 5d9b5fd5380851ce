"""Initial schema: every table of the domain model as of the first release."""

from store.models import ALL_MODELS


def up(migrator, db):
    # NOTE: later migrations must freeze their own model copies (see playhouse.migrations);
    # the first one may use the live models because they *are* the initial schema.
    with db.bind_ctx(ALL_MODELS):
        db.create_tables(ALL_MODELS, safe=True)
