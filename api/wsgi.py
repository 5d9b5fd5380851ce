"""gunicorn entry point of the write API: `gunicorn -k gthread api.wsgi:app`."""

from api.logging import configure
from api.settings import Settings
from api.write.app import create_write_app
from api.write.bodies import Lingering

settings = Settings.from_env()
configure(settings.log_level, settings.log_json)
app = Lingering(create_write_app(settings))
