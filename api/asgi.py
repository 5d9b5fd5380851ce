"""gunicorn entry point of the read service: `gunicorn -c deploy/gunicorn_read.py api.asgi:app`."""

from api.logging import configure
from api.read.app import create_read_app
from api.settings import Settings

settings = Settings.from_env()
configure(settings.log_level, settings.log_json)
app = create_read_app(settings)
