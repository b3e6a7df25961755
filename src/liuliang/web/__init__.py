"""``liuliang serve``: the read-only web dashboard (FastAPI) over one workspace. See :func:`create_app`."""

from liuliang.web.app import create_app
from liuliang.web.server import serve

__all__ = ["create_app", "serve"]
