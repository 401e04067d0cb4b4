"""Django settings, derived from the validated configuration (see config.py)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ska import config as ska_config

SKA = ska_config.load()
BASE_DIR = Path(__file__).resolve().parent


def _secret_key(config: ska_config.Config) -> str:
    """Return the configured key, or one kept in the data directory."""
    if config.web.secret_key:
        return config.web.secret_key
    path = config.data_dir / "secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.touch(mode=0o600)
        path.write_text(key, encoding="ascii")
        return key


def _database(config: ska_config.Config) -> dict[str, Any]:
    """Translate ``[database]`` into a Django database entry."""
    section = config.database
    if section.engine == "sqlite":
        config.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(config.sqlite_path),
            # Several workers share one file: wait for locks instead of failing,
            # and take the write lock at BEGIN so no transaction must be retried.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": str(config.data_dir / "test.sqlite3")},
        }
    engine = {
        "postgresql": "django.db.backends.postgresql",
        "mysql": "django.db.backends.mysql",
    }[section.engine]
    entry: dict[str, Any] = {
        "ENGINE": engine,
        "NAME": section.database or "ska",
        "USER": section.username,
        "PASSWORD": section.password,
        "HOST": section.hostname,
        "PORT": str(section.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
    if section.engine == "mysql":
        # Read committed takes no gap locks, which otherwise make the sync
        # queue's concurrent inserts and claims deadlock on InnoDB.
        entry["OPTIONS"] = {
            "charset": "utf8mb4",
            "connect_timeout": 5,
            "isolation_level": "read committed",
        }
    else:
        entry["OPTIONS"] = {"connect_timeout": 5}
    return entry


SECRET_KEY = _secret_key(SKA)
DEBUG = SKA.web.debug
_base = urlsplit(SKA.web.baseurl)
ALLOWED_HOSTS = [
    host for host in {_base.hostname or "", "127.0.0.1", "localhost"} if host
] + SKA.web.allowed_hosts
FORCE_SCRIPT_NAME = _base.path.rstrip("/") or None

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ska.directory",
    "ska.keys",
    "ska.servers",
    "ska.access",
    "ska.activity",
    "ska.sync",
    "ska.supervision",
    "ska.web",
]

MIDDLEWARE = [
    "ska.directory.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ska.directory.middleware.ActiveUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ska.urls"
WSGI_APPLICATION = "ska.wsgi.application"
AUTH_USER_MODEL = "directory.User"
AUTHENTICATION_BACKENDS = ["ska.directory.backends.DirectoryBackend"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": _database(SKA)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "ska_cache",
    }
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = _base.scheme == "https"
CSRF_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SECURE = _base.scheme == "https"
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]
SESSION_COOKIE_AGE = SKA.security.session_timeout or 60 * 60 * 24 * 365
SESSION_SAVE_EVERY_REQUEST = True
LOGIN_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = SKA.data_dir / "static"

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"asyncssh": {"level": "WARNING"}},
}
