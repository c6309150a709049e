"""Web helpers shared by every HTTP route: the services dependency and admin bearer auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.services import Services
from storage.accounts import token_org
from storage.models import Organization


def get_services(request: Request) -> Services:
    """The services the app was created with."""
    return request.app.state.services  # type: ignore[no-any-return]


_bearer = HTTPBearer(auto_error=False)


def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Organization:
    """The organization of a valid admin API token (``Authorization: Bearer <token>``)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    services = get_services(request)
    with services.db.session() as session:
        org = token_org(session, credentials.credentials, services.clock.now())
        if org is None:
            raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        session.expunge(org)
    return org


ServicesDep = Annotated[Services, Depends(get_services)]
AdminOrg = Annotated[Organization, Depends(require_admin)]
