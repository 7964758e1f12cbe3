pytest_plugins = ["factstr.testing.plugin"]
