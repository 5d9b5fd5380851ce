"""gunicorn entry point of the write API: `gunicorn -k gthread api.wsgi:app`."""

from api.logging import configure
from api.settings import Settings
from api.write.app import create_write_app

settings = Settings.from_env()
configure(settings.log_level, settings.log_json)
app = create_write_app(settings)
