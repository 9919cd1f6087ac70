"""The Ultralytics engine (AGPL-3.0). Only this package imports Ultralytics: ``engine`` (which configures
Ultralytics' environment before its first import) and ``head`` (numpy only, for deployments)."""
