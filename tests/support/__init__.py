"""Plain helpers the tests import (`from support.jobs import wait_for_job`); fixtures live in
the conftest.py files."""
