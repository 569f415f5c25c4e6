"""The studio's HTTP routes, one ``APIRouter`` per resource; :func:`painterly.web.app.create_app` includes them."""
