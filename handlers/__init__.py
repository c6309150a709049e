"""Feature handlers: one module per feature, each exposing a ``router``, composed explicitly here."""

from __future__ import annotations

from fastapi import APIRouter

from bot.router import Router
from handlers import account, digests, help, invitations, invoices, mailboxes, quotes
from handlers.invitations import web as invitations_web
from handlers.mailboxes import web as mailboxes_web

ROUTERS: list[Router] = [
    help.router,
    account.router,
    invitations.router,
    mailboxes.router,
    quotes.router,
    digests.router,
    invoices.router,
]

# HTTP routes of features (link pages, APIs, signup), included by the app factory.
WEB_ROUTERS: list[APIRouter] = [
    invitations_web.router,
    mailboxes_web.router,
    quotes.web_router,
    invoices.web_router,
]
