"""One router per resource; :func:`rca.api.app.create_app` includes them."""
