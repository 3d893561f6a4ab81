"""Music auto-tagging HTTP service (FastAPI + onnxruntime, no torch).

The ASGI application is ``app.main:app``; :func:`app.main.create_app` builds one from
:class:`app.config.Settings` (environment variables prefixed ``TAGGER_``).
"""
