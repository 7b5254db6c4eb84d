"""Adapters behind the dispatch port, one module per kind of cluster.

Import them through :mod:`apps.dispatch.registry`: ``backends.ray`` imports ``ray``, which
only the Ray adapter may do and which takes about a second to load.
"""
