"""Feature handlers: one module per feature, each exposing a ``router``, composed explicitly here."""

from __future__ import annotations

from fastapi import APIRouter

from bot.router import Router
from handlers import account, help, quotes

ROUTERS: list[Router] = [
    help.router,
    account.router,
    quotes.router,
]

# HTTP routes of features (link pages, APIs, signup), included by the app factory.
WEB_ROUTERS: list[APIRouter] = [quotes.web_router]
