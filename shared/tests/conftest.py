import pytest_socket


def pytest_runtest_setup():
    # Unit tests have no network.
    pytest_socket.disable_socket(allow_unix_socket=True)
