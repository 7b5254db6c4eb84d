"""What runs inside a Paddock serving endpoint on Ray Serve.

An endpoint is two kinds of Serve application that Paddock declares through Ray Serve's REST
API (the control plane never imports this package):

- ``paddock-ep-<id>``: the **ingress** (:mod:`paddock.serving.ingress`), the only part with an
  HTTP route. It checks the endpoint token against the hashes Paddock gave it, speaks the
  OpenAI API, splits traffic between revisions by weight (Serve has no split of its own) and
  counts requests, errors, tokens and latency for Paddock to read.
- ``paddock-rev-<id>``: one per revision, the **model** (:mod:`paddock.serving.model`), with
  no HTTP route of its own: only the ingress can reach it, so no request reaches a model
  without a valid token.

Everything here needs only what a Ray Serve cluster has (``ray[serve]``: Starlette) and, for
the built-in model, ``torch`` and ``transformers``.
"""
