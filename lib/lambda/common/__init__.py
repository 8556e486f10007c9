"""Handler plumbing shared by the three functions: settings and HTTP responses."""
