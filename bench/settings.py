"""Settings for the API benchmark's server: the project's, plus the baseline URLs.

Production-like (DEBUG off) but served over plain HTTP on loopback, with a
throttle budget no benchmark reaches and Celery tasks run in-process.
"""

import os
import warnings

from loyalty.settings import *  # noqa: F403
from loyalty.settings import REST_FRAMEWORK

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"api": os.environ.get("BENCH_API_THROTTLE_RATE",
                                                     "100000000/min")},
}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"

# WhiteNoise warns once per process that STATIC_ROOT was never collected: the API
# serves no static files, so the warning is noise in the benchmark's output.
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
