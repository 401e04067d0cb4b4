"""Settings for the test suite: the product's, with a throw-away data dir.

The database engine comes from ``SKA_DATABASE_*`` variables, so one suite
runs against SQLite, PostgreSQL and MariaDB alike.
"""

import os
import tempfile

os.environ.setdefault("SKA_DATA_DIR", tempfile.mkdtemp(prefix="ska-test-"))
os.environ.setdefault("SKA_CONFIG", os.devnull)

from ska.settings import *  # noqa: F403  (the test settings are the product's)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
