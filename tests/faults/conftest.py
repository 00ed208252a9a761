from tests.faults.harness import private_redis  # noqa: F401 - the fixture, for these tests
